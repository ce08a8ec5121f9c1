//! The Parquet exporters' output disk: a small tmpfs to fill and free.

use std::path::PathBuf;
use std::process::Command;

/// A small tmpfs mounted as the Parquet output (we run as root), to fill
/// and free; unmounted on drop.
pub struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &std::path::Path) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("output dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512m", "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        SmallDisk {
            dir: dir.to_owned(),
        }
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler.bin")
    }

    /// Fills what is left (dd stops at ENOSPC).
    pub fn fill(&self) {
        let _ = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", self.filler().display()))
            .args(["bs=1M", "status=none"])
            .status();
    }

    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}
