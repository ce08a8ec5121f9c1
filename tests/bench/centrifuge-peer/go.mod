module github.com/parley-chat/parley/tests/bench/centrifuge-peer

go 1.26.0

require github.com/centrifugal/centrifuge v0.15.0

require (
	github.com/FZambia/eagle v0.0.1 // indirect
	github.com/FZambia/sentinel v1.1.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/centrifugal/protocol v0.3.6 // indirect
	github.com/cespare/xxhash/v2 v2.1.1 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.4.0 // indirect
	github.com/gomodule/redigo v1.8.4 // indirect
	github.com/google/uuid v1.2.0 // indirect
	github.com/gorilla/websocket v1.4.2 // indirect
	github.com/igm/sockjs-go/v3 v3.0.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.1 // indirect
	github.com/mna/redisc v1.1.7 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/prometheus/client_golang v1.6.0 // indirect
	github.com/prometheus/client_model v0.2.0 // indirect
	github.com/prometheus/common v0.9.1 // indirect
	github.com/prometheus/procfs v0.0.11 // indirect
	github.com/twmb/franz-go v1.22.2
	github.com/twmb/franz-go/pkg/kmsg v1.15.0 // indirect
	golang.org/x/sys v0.0.0-20200930185726-fdedc70b468f // indirect
	google.golang.org/protobuf v1.21.0 // indirect
)

// The Go module proxy refuses github.com/centrifugal/*; Debian ships them
// (apt-get install golang-github-centrifugal-centrifuge-dev).
replace (
	github.com/centrifugal/centrifuge => /usr/share/gocode/src/github.com/centrifugal/centrifuge
	github.com/centrifugal/protocol => /usr/share/gocode/src/github.com/centrifugal/protocol
)
