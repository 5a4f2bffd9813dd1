fn main() -> Result<(), Box<dyn std::error::Error>> {
    hatch_proxygen::configure().compile(&[
        "src/api/http.rs",
        "src/api/cache.rs",
        "src/api/compress.rs",
        "src/api/script.rs",
        "src/api/articles.rs",
        "src/api/memo.rs",
        "src/api/database.rs",
    ])?;
    Ok(())
}
