//! The consuming builder that `build.rs` drives.

use std::collections::HashSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::generate::{self, ASYNC_CLIENT_METHODS, Options};
use crate::parse;

/// Starts configuring the generator with the defaults documented on each [`Builder`] setter.
pub fn configure() -> Builder {
    Builder::default()
}

/// Generator settings. Create with [`configure`], adjust with the setters, finish with
/// [`Builder::compile`].
#[derive(Clone, Debug)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    runtime_path: String,
    client: bool,
    async_client: bool,
    server: bool,
    only_traits: Option<Vec<String>>,
    emit_rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            out_dir: None,
            runtime_path: "::hatch::codegen".into(),
            client: true,
            async_client: true,
            server: true,
            only_traits: None,
            emit_rerun_if_changed: true,
        }
    }
}

impl Builder {
    /// Directory the generated files go to. Default: `$OUT_DIR` (set by cargo for build scripts).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Path of the module that generated code takes every runtime item from. Default:
    /// `::hatch::codegen`. Change it when the facade is renamed or re-exported, e.g.
    /// `runtime_path("::my_crate::rpc")` with `pub use hatch::codegen as rpc;` in `my_crate`.
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = path.into();
        self
    }

    /// Whether to generate `<Trait>Proxy`, the blocking client implementing the trait. Default: `true`.
    pub fn build_client(mut self, enable: bool) -> Self {
        self.client = enable;
        self
    }

    /// Whether to generate `<Trait>AsyncClient`, the async client. Default: `true`.
    pub fn build_async_client(mut self, enable: bool) -> Self {
        self.async_client = enable;
        self
    }

    /// Whether to generate `<Trait>Server`, the dispatcher. Default: `true`.
    pub fn build_server(mut self, enable: bool) -> Self {
        self.server = enable;
        self
    }

    /// Generates proxies only for the traits with these names. Default: every top-level trait of
    /// each file.
    pub fn only_traits<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only_traits = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Whether [`Builder::compile`] prints `cargo:rerun-if-changed=<file>` for each input file.
    /// Default: `true`.
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Generates the proxies of every interface trait in each of `files` (paths relative to the
    /// package root, as `build.rs` runs there) and writes them to `<out_dir>/<file stem>.rs`, for
    /// `hatch::include_proxies!("<file stem>")`. Files whose content did not change are not
    /// rewritten.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] lists every unsupported form (file, line, trait, method, reason);
    /// other variants report unreadable files, syntax errors and missing configuration.
    pub fn compile(self, files: &[impl AsRef<Path>]) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| Error::Config("OUT_DIR is not set: run from a build script or set `out_dir`".into()))?,
        };
        let mut stems = HashSet::new();
        for file in files {
            let path = file.as_ref();
            if self.emit_rerun_if_changed {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            let stem = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or_else(|| Error::Config(format!("{} has no UTF-8 file stem", path.display())))?;
            if !stems.insert(stem.to_owned()) {
                return Err(Error::Config(format!("two interface files have the stem `{stem}`; rename one")));
            }
            let source = fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
            let code = self.generate(path, &source)?;
            let target = out_dir.join(format!("{stem}.rs"));
            if fs::read_to_string(&target).ok().as_deref() != Some(code.as_str()) {
                fs::write(&target, code).map_err(|source| Error::Write { path: target.clone(), source })?;
            }
        }
        Ok(())
    }

    /// Generates the formatted code for the interface traits in `source` (the contents of `path`,
    /// which only labels messages and the header) without touching the filesystem.
    ///
    /// # Errors
    ///
    /// As for [`Builder::compile`].
    pub fn generate(&self, path: &Path, source: &str) -> Result<String, Error> {
        let options = self.options()?;
        let reserved: &[&str] = if self.async_client { ASYNC_CLIENT_METHODS } else { &[] };
        let services = parse::parse_file(path, source, self.only_traits.as_deref(), reserved)?;
        let label = path.to_string_lossy().replace('\\', "/");
        Ok(generate::file(&services, &options, &label))
    }

    fn options(&self) -> Result<Options, Error> {
        let runtime = syn::parse_str(&self.runtime_path)
            .map_err(|err| Error::Config(format!("runtime path `{}` is not a Rust path: {err}", self.runtime_path)))?;
        Ok(Options { runtime, client: self.client, async_client: self.async_client, server: self.server })
    }
}
