//! Where parts are published: a local folder (rename into place) or an S3
//! bucket (multipart upload; an object appears only when the upload
//! completes; a failed upload is aborted). Either way parts are first
//! written to a local temp folder, and the published names tell how far each
//! partition got.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStore, PutPayload, RetryConfig};

use crate::layout::{highest_offsets, relative_part_path, Layout};
use crate::part_file::{PartError, SealedPart};

/// Bytes read from the temp file per multipart chunk.
const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;
/// Chunks of one upload in flight at once.
const UPLOADS_IN_FLIGHT: usize = 4;
/// Bytes the output probe writes, fsyncs and deletes.
const PROBE_BYTES: usize = 1024 * 1024;
/// How long one S3 request is retried: long enough for a blip; a longer
/// outage is the runtime's to handle (paused, 503, retried up to every 30 s)
/// rather than an encoder blocked for object_store's default 3 minutes.
const S3_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// A parsed `--out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// A local folder.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (may be empty).
        prefix: String,
    },
}

impl OutputTarget {
    /// Parses `--out`: a path, or `s3://bucket[/prefix]`.
    pub fn parse(out: &str) -> Result<Self, String> {
        if let Some(rest) = out.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("--out {out:?}: no bucket"));
            }
            return Ok(OutputTarget::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if out.contains("://") {
            return Err(format!(
                "--out {out:?}: only local paths and s3:// are supported"
            ));
        }
        if out.trim().is_empty() {
            return Err("--out must not be empty".into());
        }
        Ok(OutputTarget::Local(PathBuf::from(out)))
    }
}

/// An opened output.
#[derive(Clone)]
pub struct Output {
    /// Local layout: the published tree for a folder, the temp tree for S3.
    layout: Layout,
    remote: Option<Remote>,
    /// The folder or `s3://bucket/prefix`, for messages.
    name: String,
}

#[derive(Clone)]
struct Remote {
    store: Arc<dyn ObjectStore>,
    root: String,
    runtime: tokio::runtime::Handle,
}

impl Output {
    /// Opens `target` for the parts of `dataset` (its folder under the
    /// root). For S3 the client is configured from the standard `AWS_*`
    /// environment (credentials, region, `AWS_ENDPOINT` for S3-compatible
    /// servers) and temp files go under `spool`.
    pub fn open(
        target: &OutputTarget,
        spool: &Path,
        dataset: &str,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, String> {
        match target {
            OutputTarget::Local(path) => Ok(Output {
                layout: Layout::new(path, dataset),
                remote: None,
                name: path.display().to_string(),
            }),
            OutputTarget::S3 { bucket, prefix } => {
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(RetryConfig {
                        max_retries: 4,
                        retry_timeout: S3_RETRY_FOR,
                        ..RetryConfig::default()
                    })
                    .build()
                    .map_err(|e| format!("S3 bucket {bucket}: {e}"))?;
                let root = if prefix.is_empty() {
                    dataset.to_owned()
                } else {
                    format!("{prefix}/{dataset}")
                };
                Ok(Output {
                    layout: Layout::new(spool, dataset),
                    name: format!("s3://{bucket}/{prefix} (spool {})", spool.display()),
                    remote: Some(Remote {
                        store: Arc::new(store),
                        root,
                        runtime,
                    }),
                })
            }
        }
    }

    /// The local layout parts are written under.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The folder or `s3://bucket/prefix`, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether parts can be written again after a failure: a file is
    /// created in the temp folder, filled, fsynced and deleted. (For S3 the
    /// listing that [`Self::scan`] does after it checks the bucket.)
    pub fn probe(&self, consumer: usize) -> Result<(), PartError> {
        let dir = self.layout.tmp_dir();
        let path = dir.join(format!("probe-{}-{consumer}.check", std::process::id()));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PartError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let written = File::create(&path).and_then(|mut file| {
            file.write_all(&vec![0u8; PROBE_BYTES])?;
            file.sync_all()
        });
        let removed = match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        written.and(removed).map_err(io(&path))
    }

    /// Highest published last offset per partition.
    pub fn scan(&self) -> Result<HashMap<i32, i64>, PartError> {
        match &self.remote {
            None => self.layout.scan().map_err(|source| PartError::Io {
                path: self.layout.root().to_path_buf(),
                source,
            }),
            Some(remote) => {
                let prefix = ObjectPath::from(remote.root.as_str());
                let names: Vec<String> = remote
                    .runtime
                    .block_on(async {
                        remote
                            .store
                            .list(Some(&prefix))
                            .map_ok(|meta| meta.location.filename().unwrap_or_default().to_owned())
                            .try_collect()
                            .await
                    })
                    .map_err(|e| PartError::Remote(e.to_string()))?;
                Ok(highest_offsets(names.iter().map(String::as_str)))
            }
        }
    }

    /// Publishes a sealed part: rename into place locally, or upload to S3
    /// and delete the temp file. Returns where it went.
    pub fn publish(&self, part: &SealedPart) -> Result<String, PartError> {
        let relative = relative_part_path(part.hour, part.partition, part.first, part.last);
        match &self.remote {
            None => {
                let target = self.layout.root().join(&relative);
                let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
                let io = |path: &Path| {
                    let path = path.to_path_buf();
                    move |source| PartError::Io { path, source }
                };
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                std::fs::rename(&part.tmp_path, &target).map_err(io(&target))?;
                File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(&dir))?;
                Ok(target.display().to_string())
            }
            Some(remote) => {
                let key = ObjectPath::from(format!("{}/{relative}", remote.root));
                remote
                    .runtime
                    .block_on(upload(remote.store.as_ref(), &key, &part.tmp_path))?;
                let _ = std::fs::remove_file(&part.tmp_path);
                Ok(format!("s3 {key}"))
            }
        }
    }
}

/// Streams a file into a multipart upload; the object exists only once
/// the upload completes. A failed upload is aborted, so no parts linger.
async fn upload(store: &dyn ObjectStore, key: &ObjectPath, file: &Path) -> Result<(), PartError> {
    let mut upload = store
        .put_multipart(key)
        .await
        .map_err(|e| PartError::Remote(e.to_string()))?;
    let result = send_parts(upload.as_mut(), file).await;
    if result.is_err() {
        if let Err(e) = upload.abort().await {
            tracing::warn!(%key, error = %e, "cannot abort a failed multipart upload (a bucket lifecycle rule reclaims it)");
        }
    }
    result
}

/// Sends the file as parts, a few in flight, then completes the upload.
async fn send_parts(upload: &mut dyn MultipartUpload, file: &Path) -> Result<(), PartError> {
    let io = |source| PartError::Io {
        path: file.to_path_buf(),
        source,
    };
    let remote = |e: object_store::Error| PartError::Remote(e.to_string());
    let mut source = File::open(file).map_err(io)?;
    let mut in_flight: FuturesUnordered<object_store::UploadPart> = FuturesUnordered::new();
    loop {
        let mut buf = vec![0u8; UPLOAD_CHUNK];
        let n = read_full(&mut source, &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        while in_flight.len() >= UPLOADS_IN_FLIGHT {
            if let Some(sent) = in_flight.next().await {
                sent.map_err(remote)?;
            }
        }
        in_flight.push(upload.put_part(PutPayload::from(buf)));
    }
    while let Some(sent) = in_flight.next().await {
        sent.map_err(remote)?;
    }
    upload.complete().await.map_err(remote)?;
    Ok(())
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_flags_parse() {
        assert_eq!(
            OutputTarget::parse("s3://exports/chat/v1/"),
            Ok(OutputTarget::S3 {
                bucket: "exports".into(),
                prefix: "chat/v1".into()
            })
        );
        assert_eq!(
            OutputTarget::parse("s3://exports"),
            Ok(OutputTarget::S3 {
                bucket: "exports".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            OutputTarget::parse("/data/out"),
            Ok(OutputTarget::Local("/data/out".into()))
        );
        assert!(OutputTarget::parse("s3://").is_err());
        assert!(OutputTarget::parse("gs://b/p").is_err());
        assert!(OutputTarget::parse(" ").is_err());
    }
}
