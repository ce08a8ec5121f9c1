// Command centrifuge-peer is the Centrifugo stand-in of the websocket-sender
// benchmark (tests/bench/websocket_sender.sh).
//
// Centrifugo itself cannot be installed here (the Go module proxy refuses
// the github.com/centrifugal modules), so this peer is built on the same
// engine: the Centrifuge library (Debian's golang-github-centrifugal-centrifuge-dev),
// which is Centrifugo's client hub, channel broadcast, protocol encoding and
// WebSocket transport. Around it sits what the benchmark uses of Centrifugo:
//
//   - WebSocket endpoint /connection/websocket (Centrifuge JSON protocol);
//   - HS256 connection JWTs (claims sub, exp) with the secret from
//     PARLEY_JWT_SECRET, like client.token.hmac_secret_key;
//   - a channel namespace "room" that clients may subscribe to, without
//     history (like allow_subscribe_for_client with history off);
//   - a Kafka async consumer (like a Centrifugo "consumers" entry of type
//     kafka, built on franz-go as Centrifugo's is) reading server API
//     commands {"method":"publish","payload":{"channel":C,"data":D}} and
//     publishing them; records are processed in order per partition.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/twmb/franz-go/pkg/kgo"
)

// command is one Centrifugo server API command as read from Kafka.
type command struct {
	Method  string          `json:"method"`
	Payload json.RawMessage `json:"payload"`
}

// publishRequest is the payload of a publish command.
type publishRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// claims are the JWT claims the peer reads.
type claims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

var errBadToken = errors.New("bad token")

// verifyHS256 checks an HS256 JWT and returns its claims.
func verifyHS256(token string, secret []byte, now time.Time) (claims, error) {
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errBadToken
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return c, errBadToken
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg != "HS256" {
		return c, errBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return c, errBadToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return c, errBadToken
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &c) != nil {
		return c, errBadToken
	}
	if c.Exp > 0 && now.Unix() >= c.Exp {
		return c, errBadToken
	}
	return c, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "HTTP address (WebSocket at /connection/websocket, /healthz)")
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	topic := flag.String("topic", "", "Kafka topic of Centrifugo publish commands")
	group := flag.String("group", "centrifuge-peer", "Kafka consumer group")
	writePool := flag.Bool("ws-write-buffer-pool", true, "websocket.use_write_buffer_pool (Centrifugo's advice for many idle connections)")
	flag.Parse()
	secret := os.Getenv("PARLEY_JWT_SECRET")
	if secret == "" || *topic == "" {
		log.Fatal("need PARLEY_JWT_SECRET and -topic")
	}

	cfg := centrifuge.DefaultConfig
	cfg.LogLevel = centrifuge.LogLevelError
	cfg.LogHandler = func(e centrifuge.LogEntry) { log.Printf("%s: %v", e.Message, e.Fields) }
	node, err := centrifuge.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	broker, err := centrifuge.NewMemoryBroker(node, centrifuge.MemoryBrokerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	node.SetBroker(broker)

	key := []byte(secret)
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		c, err := verifyHS256(e.Token, key, time.Now())
		if err != nil || c.Sub == "" {
			return centrifuge.ConnectReply{}, centrifuge.DisconnectInvalidToken
		}
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: c.Sub}}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			if !strings.HasPrefix(e.Channel, "room:") {
				cb(centrifuge.SubscribeReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.SubscribeReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		UseWriteBufferPool: *writePool,
		WriteTimeout:       time.Second,
		MessageSizeLimit:   65536,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	server := &http.Server{Addr: *listen, Handler: mux}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	var published, bad atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		consume(ctx, node, strings.Split(*brokers, ","), *topic, *group, &published, &bad)
	}()
	log.Printf("centrifuge-peer listening on %s, consuming %s", *listen, *topic)
	<-ctx.Done()
	<-done
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = server.Shutdown(shutdownCtx)
	_ = node.Shutdown(shutdownCtx)
	log.Printf("stopped: published=%d bad=%d", published.Load(), bad.Load())
}

// consume reads publish commands and publishes them until ctx ends.
func consume(ctx context.Context, node *centrifuge.Node, brokers []string, topic, group string, published, bad *atomic.Uint64) {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for ctx.Err() == nil {
		fetches := client.PollRecords(ctx, 1000)
		fetches.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				log.Printf("fetch %s[%d]: %v", t, p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			var cmd command
			var req publishRequest
			if json.Unmarshal(r.Value, &cmd) != nil || cmd.Method != "publish" ||
				json.Unmarshal(cmd.Payload, &req) != nil || req.Channel == "" {
				bad.Add(1)
				return
			}
			if _, err := node.Publish(req.Channel, req.Data); err != nil {
				bad.Add(1)
				return
			}
			published.Add(1)
		})
	}
}
