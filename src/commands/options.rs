//! The command line's arguments as the library's option types: clap stays
//! in the command layer (`cli.rs`); `diff`, `show`, `export` and `report`
//! take their own plain structs and enums.

use crate::cli::{self, DiffArgs, ExportArgs, ReportArgs, ShowArgs};
use crate::diff::{DiffFormat, DiffMetric, DiffOptions, DiffSort};
use crate::export::{ExportOptions, TableFormat, TableName};
use crate::report::ReportOptions;
use crate::show::{ShowFormat, ShowOptions};

pub fn diff(a: DiffArgs) -> DiffOptions {
    DiffOptions {
        old: a.old,
        new: a.new,
        rev: a.rev,
        metric: a.metric.into_iter().map(metric).collect(),
        threshold: a.threshold,
        alpha: a.alpha,
        only_changed: a.only_changed,
        sort: match a.sort {
            cli::DiffSort::Id => DiffSort::Id,
            cli::DiffSort::Ratio => DiffSort::Ratio,
            cli::DiffSort::Mark => DiffSort::Mark,
        },
        format: match a.format {
            cli::DiffFormat::Table => DiffFormat::Table,
            cli::DiffFormat::Md => DiffFormat::Md,
            cli::DiffFormat::Json => DiffFormat::Json,
        },
    }
}

fn metric(m: cli::DiffMetric) -> DiffMetric {
    match m {
        cli::DiffMetric::Latency => DiffMetric::Latency,
        cli::DiffMetric::TProd => DiffMetric::TProd,
        cli::DiffMetric::TKer => DiffMetric::TKer,
        cli::DiffMetric::TIdle => DiffMetric::TIdle,
        cli::DiffMetric::Speedup => DiffMetric::Speedup,
    }
}

fn table(t: cli::TableName) -> TableName {
    match t {
        cli::TableName::Summary => TableName::Summary,
        cli::TableName::Checklist => TableName::Checklist,
        cli::TableName::Sweeps => TableName::Sweeps,
        cli::TableName::Kstrategy => TableName::Kstrategy,
        cli::TableName::Kernels => TableName::Kernels,
        cli::TableName::Inferences => TableName::Inferences,
    }
}

fn format(f: cli::TableFormat) -> TableFormat {
    match f {
        cli::TableFormat::Csv => TableFormat::Csv,
        cli::TableFormat::Md => TableFormat::Md,
        cli::TableFormat::Json => TableFormat::Json,
        cli::TableFormat::Parquet => TableFormat::Parquet,
    }
}

pub fn show(a: ShowArgs) -> ShowOptions {
    ShowOptions {
        dir: a.dir,
        table: table(a.table),
        rev: a.rev,
        columns: a.columns,
        all: a.all,
        format: match a.format {
            cli::ShowFormat::Table => ShowFormat::Table,
            cli::ShowFormat::Csv => ShowFormat::Csv,
            cli::ShowFormat::Md => ShowFormat::Md,
            cli::ShowFormat::Json => ShowFormat::Json,
        },
    }
}

pub fn export(a: ExportArgs) -> ExportOptions {
    ExportOptions {
        dir: a.dir,
        rev: a.rev,
        table: a.table.into_iter().map(table).collect(),
        format: a.format.into_iter().map(format).collect(),
        output_dir: a.output_dir,
    }
}

pub fn report(a: ReportArgs) -> ReportOptions {
    ReportOptions {
        dir: a.dir,
        templates: a.templates,
        cell: a.cell,
        output_dir: a.output_dir,
    }
}
