//! The XDP program: loading it with the Hatch port patched in, attaching it to an interface,
//! registering AF_XDP sockets in its XSKMAP, and detaching it on drop.

use std::os::fd::{AsFd, RawFd};

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, Xdp, XdpFlags};

use super::{XdpError, XdpMode};

/// The compiled program (built by `build.rs` from `src/bpf/redirect.bpf.c`).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/redirect.bpf.o"));
const PROGRAM: &str = "hatch_redirect";
const XSKMAP: &str = "xsks";

/// The program attached to one interface. Detached when dropped.
#[derive(Debug)]
pub struct XdpProgram {
    object: Object,
    ifindex: i32,
    /// The attach-mode flag, as bits (`XdpFlags` is neither `Copy` nor `Debug`).
    flags: u32,
    mode: XdpMode,
}

impl XdpProgram {
    /// Loads the program for UDP `port` and attaches it to `ifindex` in `mode`
    /// ([`XdpMode::Auto`] tries native, then generic).
    pub fn attach(ifindex: u32, port: u16, mode: XdpMode) -> Result<Self, XdpError> {
        let mut builder = ObjectBuilder::default();
        builder.name("hatch_xdp").map_err(XdpError::bpf("naming the XDP object"))?;
        let mut open = builder.open_memory(OBJECT).map_err(XdpError::bpf("opening the XDP object"))?;
        let mut patched = false;
        for mut map in open.maps_mut() {
            if map.name().to_string_lossy().ends_with(".rodata")
                && let Some(value) = map.initial_value_mut()
                && value.len() >= 2
            {
                // The section holds one variable, `hatch_port`, at offset 0, in network order.
                value[..2].copy_from_slice(&port.to_be_bytes());
                patched = true;
            }
        }
        if !patched {
            return Err(XdpError::Object("no .rodata section for the port"));
        }
        let object = open.load().map_err(XdpError::bpf("loading the XDP program (needs CAP_BPF)"))?;
        let ifindex = ifindex as i32;
        let (native, generic) = (XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits());
        let attempts: &[(XdpMode, u32)] = match mode {
            XdpMode::Native => &[(XdpMode::Native, native)],
            XdpMode::Generic => &[(XdpMode::Generic, generic)],
            XdpMode::Auto => &[(XdpMode::Native, native), (XdpMode::Generic, generic)],
        };
        let mut last_err = None;
        for &(mode, flags) in attempts {
            let result = {
                let prog = find_program(&object)?;
                Xdp::new(prog.as_fd()).attach(ifindex, XdpFlags::from_bits_retain(flags) | XdpFlags::UPDATE_IF_NOEXIST)
            };
            match result {
                Ok(()) => return Ok(Self { object, ifindex, flags, mode }),
                Err(err) => last_err = Some(err),
            }
        }
        Err(XdpError::Bpf { what: "attaching the XDP program", source: last_err.expect("at least one attempt") })
    }

    /// The mode it was attached in.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Sends packets arriving on `queue` to the AF_XDP socket `fd`.
    pub fn register(&self, queue: u32, fd: RawFd) -> Result<(), XdpError> {
        let map = self
            .object
            .maps()
            .find(|map| map.name() == XSKMAP)
            .ok_or(XdpError::Object("no XSKMAP in the XDP object"))?;
        map.update(&queue.to_ne_bytes(), &(fd as u32).to_ne_bytes(), MapFlags::ANY)
            .map_err(XdpError::bpf("registering the AF_XDP socket"))
    }
}

fn find_program(object: &Object) -> Result<libbpf_rs::ProgramMut<'_>, XdpError> {
    object.progs_mut().find(|prog| prog.name() == PROGRAM).ok_or(XdpError::Object("no XDP program in the object"))
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Ok(prog) = find_program(&self.object)
            && let Err(err) = Xdp::new(prog.as_fd()).detach(self.ifindex, XdpFlags::from_bits_retain(self.flags))
        {
            tracing::warn!(%err, ifindex = self.ifindex, "detaching the XDP program failed");
        }
    }
}
