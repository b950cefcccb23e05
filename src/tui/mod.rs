//! The dashboard (being rebuilt on the job engine).

/// What the dashboard opens with.
pub struct Start {
    pub run: Option<String>,
    pub data_given: bool,
}

/// Opens the dashboard.
pub fn run(_config: &crate::config::Config, _start: Start) -> anyhow::Result<()> {
    anyhow::bail!("the dashboard is being rebuilt")
}

/// Follows a run.
pub fn attach(_config: &crate::config::Config, _run: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!("the dashboard is being rebuilt")
}
