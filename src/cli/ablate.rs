//! `classgen ablate`: the ablation study headless, resumable, with a significance table; its
//! cells run here, one by one (`--cell`), or as a Slurm array (`--slurm`).

use clap::Args;

use classgen::config::Config;
use classgen::jobs::ablate::AblationPlan;
use classgen::model::ArchSpec;

use super::console::out;
use super::plot::PlotArgs;
use super::study::StudyArgs;
use super::DataArgs;

/// Flags of `classgen ablate`; each overrides `[ablation]` in the config.
#[derive(Debug, Args)]
pub struct AblateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Comma-separated variant names (see --list).
    #[arg(long, value_delimiter = ',')]
    variants: Option<Vec<String>>,
    /// Seeds per variant.
    #[arg(long)]
    seeds: Option<usize>,
    /// Epochs per run.
    #[arg(long)]
    epochs: Option<usize>,
    /// Runs trained side by side on the CPU, sharing its threads.
    #[arg(long)]
    runs_at_once: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// List the variants with their parameter counts and exit.
    #[arg(long)]
    list: bool,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    study: StudyArgs,
    /// Mean accuracy per variant as bars, ± std over seeds.
    #[command(flatten)]
    plot: PlotArgs,
}

fn list(config: &Config) {
    out!("{:<10} {:>10}  description", "variant", "params");
    let custom = config.archs.iter().map(|a| (a.clone(), "from config.toml"));
    for (spec, description) in ArchSpec::builtins().into_iter().chain(custom) {
        out!("{:<10} {:>10}  {description}", spec.name, spec.params());
    }
}

/// Runs `classgen ablate`.
pub fn run(args: AblateArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(v) = &args.variants {
        config.ablation.variants = v.clone();
    }
    if let Some(v) = args.seeds {
        config.ablation.seeds = v;
    }
    if let Some(v) = args.epochs {
        config.ablation.epochs = v;
    }
    if let Some(v) = args.runs_at_once {
        config.ablation.runs_at_once = v;
    }
    if let Some(v) = &args.device {
        config.train.device = v.clone();
    }
    config.validate()?;
    if args.list {
        list(config);
        return Ok(());
    }
    classgen::runtime::set_threads(config.train.threads);
    let variants = config
        .ablation
        .variants
        .iter()
        .map(|v| ArchSpec::by_name(v, &config.archs).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut recipe = config.train.clone();
    recipe.epochs = config.ablation.epochs;
    let seeds: Vec<u64> = (0..config.ablation.seeds as u64)
        .map(|i| config.train.seed + i)
        .collect();
    let plan = AblationPlan {
        variants,
        seeds,
        train: recipe,
        runs_at_once: config.ablation.runs_at_once,
    };
    super::study::run(plan.into(), &args.study, &args.plot, config, args.json)
}
