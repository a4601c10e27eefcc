//! Precompiled components on disk, so that a warm start maps native code
//! instead of compiling it.
//!
//! An entry is named by the SHA-256 of the component and of the engine's
//! compatibility hash (wasmtime's version and every setting that changes the
//! code) with the fast read builtin, so a new wasmtime, another configuration
//! or another builtin never reads a stale one.

use crate::market::Sha256;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Feeds `Hash` input to SHA-256, for a key that is the same in every process.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the digest is used")
    }
}

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        super::fast_read::builtin_text().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finish().0[..8]);
        ComponentCache { dir: dir.to_owned(), engine_key }
    }

    fn entry(&self, component_sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex::encode(component_sha256), self.engine_key))
    }

    /// The compiled component, from the cache when it holds a usable entry,
    /// else compiled now and stored for next time. Cache trouble is logged,
    /// never fatal: compiling always works.
    pub fn load(
        &self,
        engine: &Engine,
        sha256: &[u8; 32],
        compile: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Component> {
        let entry = self.entry(sha256);
        if entry.exists() {
            // SAFETY: entries are written only by `store` below, from what
            // this engine compiled, into the host's cache
            // directory; the name carries the engine's compatibility hash,
            // and wasmtime checks the header again.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!("ignoring the cached component {}: {e}", entry.display()),
            }
        }
        let compiled = compile()?;
        if let Err(e) = self.store(&entry, &compiled) {
            tracing::warn!("cannot cache the compiled component in {}: {e}", self.dir.display());
        }
        // SAFETY: `compiled` was made by this engine just now.
        Ok(unsafe { Component::deserialize(engine, &compiled) }?)
    }

    /// Writes an entry atomically: another process sees all of it or none.
    fn store(&self, entry: &Path, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut temp, compiled)?;
        temp.persist(entry).map_err(|e| e.error)?;
        Ok(())
    }
}
