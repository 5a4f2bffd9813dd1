pub trait Log: Send + Sync {
    #[hatch_proxygen_macros::sync(now)]
    fn flush_to_disk(&self);
}

fn main() {}
