fn main() -> Result<(), Box<dyn std::error::Error>> {
    hatch_proxygen::configure().compile(&["src/primes.rs", "src/primes_v2.rs", "src/kv.rs", "src/socket.rs"])?;
    Ok(())
}
