pub fn bench(_args: &BenchArgs) -> anyhow::Result<()> {
    Ok(())
}
#[derive(clap::Args)]
pub struct BenchArgs {}
