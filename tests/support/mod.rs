//! What the integration tests share: a scratch folder to run `klo-spec`
//! in (`Sandbox`). Each test binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod browser;

pub const BIN: &str = env!("CARGO_BIN_EXE_klo-spec");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A scratch folder: scenario files, outputs and the local board's work
/// folder live in it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn board_dir(&self) -> PathBuf {
        self.path().join("board")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env("KLO_SPEC_LOCAL_DIR", self.board_dir())
            .env_remove("KLO_SPEC_OUTPUTS")
            .env_remove("KLO_SPEC_TEMPLATES");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn out(&self, scenario: &str) -> PathBuf {
        self.path().join("outputs").join(scenario)
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
