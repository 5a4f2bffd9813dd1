fn main() -> Result<(), Box<dyn std::error::Error>> {
    hatch_proxygen::configure().compile(&["src/primes.rs", "src/store.rs", "src/sieve.rs"])?;
    Ok(())
}
