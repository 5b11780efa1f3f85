//! Where columnar files go: a local directory by default, any object store by URL.
//!
//! Checkpoints on the primary and the standbys' column segments are Parquet
//! files written through `object_store`, so the same code writes to a local
//! directory or an S3-compatible bucket (`s3://bucket/prefix`, when built with
//! the store's feature), and the files are readable by any Parquet engine.

use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::{Error, Result};

/// A store and a prefix inside it.
#[derive(Clone, Debug)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// The URL or directory this was opened from (for messages and `SHOW`).
    pub display: String,
}

impl Location {
    /// Opens a local directory (created if missing) or a store URL
    /// (`file:///abs/dir`, `memory://`, and `s3://…` when that store is built in).
    pub fn open(spec: &str) -> Result<Location> {
        if spec.contains("://") {
            let url = url::Url::parse(spec).map_err(|e| Error::InvalidText(format!("invalid store URL {spec}: {e}")))?;
            if url.scheme() == "file" {
                let dir = url.to_file_path().map_err(|_| Error::InvalidText(format!("invalid file URL {spec}")))?;
                return Location::local(&dir);
            }
            let (store, prefix) =
                object_store::parse_url(&url).map_err(|e| Error::InvalidText(format!("cannot open store {spec}: {e}")))?;
            return Ok(Location { store: Arc::from(store), prefix, display: spec.to_string() });
        }
        Location::local(FsPath::new(spec))
    }

    pub fn local(dir: &FsPath) -> Result<Location> {
        std::fs::create_dir_all(dir)?;
        let abs = dir.canonicalize()?;
        let store = LocalFileSystem::new_with_prefix(&abs)?.with_automatic_cleanup(true);
        Ok(Location { store: Arc::new(store), prefix: Path::default(), display: abs.display().to_string() })
    }

    /// `prefix/part/part…`
    pub fn path(&self, parts: &[&str]) -> Path {
        let mut p = self.prefix.clone();
        for part in parts {
            p = p.join(*part);
        }
        p
    }
}

/// Reads a Parquet file from an object store: byte ranges on demand, footer
/// via the known file size. Lets DataFusion-free code (checkpoint loading)
/// stream Parquet from any store.
#[derive(Clone, Debug)]
pub struct ParquetObjectFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ParquetObjectFile {
    pub async fn open(store: Arc<dyn ObjectStore>, path: Path) -> Result<ParquetObjectFile> {
        use object_store::ObjectStoreExt;
        let size = store.head(&path).await?.size;
        Ok(ParquetObjectFile { store, path, size })
    }

    /// A file whose size is already known (no request to the store).
    pub fn with_size(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> ParquetObjectFile {
        ParquetObjectFile { store, path, size }
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

fn parquet_err(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl parquet::arrow::async_reader::AsyncFileReader for ParquetObjectFile {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        use futures::FutureExt;
        use object_store::ObjectStoreExt;
        async move { self.store.get_range(&self.path, range).await.map_err(parquet_err) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<'a, parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>> {
        use futures::FutureExt;
        async move {
            let size = self.size;
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
