//! The `parcours` binary: parses the command line, starts tracing, and calls into the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use parcours::commands::{self, Paths};
use parcours::message::Lang;
use std::net::SocketAddr;
use std::path::PathBuf;

/// jemalloc, chosen by measurement: under a steady load glibc's allocator kept growing in steps
/// (fragmentation), jemalloc stayed flat (`scripts/soak.py`, README "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One customer-service agent for every channel.
#[derive(Parser)]
#[command(name = "parcours", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Where the customer store lives.
    #[arg(long, default_value = "./data", env = "PARCOURS_DATA_DIR")]
    data_dir: PathBuf,
    /// The intents folder.
    #[arg(long, default_value = "./intents")]
    intents: PathBuf,
    /// The settings file (optional unless named).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `postgres://…`: the PostgreSQL store instead of the embedded one in `--data-dir`.
    #[arg(long = "store", env = "PARCOURS_DATABASE_URL", hide_env_values = true)]
    store: Option<String>,
}

impl Common {
    /// Where the store is, for messages: the data directory, or the server (without its password).
    fn where_(&self) -> String {
        match &self.store {
            Some(url) if !url.is_empty() => parcours::store::pg_store::display_url(url),
            _ => self.data_dir.display().to_string(),
        }
    }

    fn paths(&self) -> Paths {
        Paths {
            data_dir: self.data_dir.clone(),
            intents: self.intents.clone(),
            config: self
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("parcours.toml")),
            config_required: self.config.is_some(),
            store_url: self.store.clone().filter(|s| !s.is_empty()),
            migrate: false,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run every channel: HTTP webhooks, the staff API and console, and Telegram when a token is set.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// With the PostgreSQL store: apply the schema's migrations before serving.
        #[arg(long)]
        migrate: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Create or upgrade the PostgreSQL store's schema (additive migrations embedded in the binary).
    Migrate {
        /// `postgres://…` (or `PARCOURS_DATABASE_URL`).
        #[arg(long = "store", env = "PARCOURS_DATABASE_URL", hide_env_values = true)]
        store: String,
    },
    /// Serve the reference fulfillment backend: the sample customers' orders over the fulfillment
    /// protocol, every request's signature checked (`PARCOURS_FULFILLMENT_SECRET`), each action done
    /// once per idempotency key.
    DemoBackend {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// The customers and their orders (the JSON `parcours customers import` reads).
        #[arg(long, default_value = "tests/data/customers.json")]
        customers: PathBuf,
    },
    /// Talk to the bot as a customer in the terminal (reads stdin line by line when it is not a TTY).
    Chat {
        /// Your id on the chat channel.
        #[arg(long, default_value = "local")]
        user: String,
        /// Your locale (en-US, fr-FR); the bot follows the language you write in.
        #[arg(long)]
        locale: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Intent accuracy on a labelled CSV file (text,intent).
    Eval {
        /// The test file.
        #[arg(long)]
        test: PathBuf,
        /// Train on this CSV instead of the intents folder.
        #[arg(long, conflicts_with = "intents")]
        train: Option<PathBuf>,
        /// The intents folder to train on.
        #[arg(long, default_value = "./intents")]
        intents: PathBuf,
        /// Label of out-of-scope rows: fallbacks count as this prediction.
        #[arg(long)]
        oos_label: Option<String>,
        /// Confidence below which the bot falls back (default: the settings' fallback_threshold).
        #[arg(long)]
        threshold: Option<f32>,
        /// SVM regularisation C (default 1.0), for tuning on a validation split.
        #[arg(long)]
        svm_c: Option<f32>,
        /// Turn off typo correction (for ablations).
        #[arg(long)]
        no_spelling: bool,
        /// Turn off the word vectors (n-grams only, for ablations).
        #[arg(long)]
        no_vectors: bool,
        /// Turn off the French word stems (for ablations).
        #[arg(long)]
        no_stems: bool,
        /// Weight of the word-vector block (default 1.5), for tuning on a validation split.
        #[arg(long)]
        vector_weight: Option<f32>,
        /// Weight of the word vectors' maximum and minimum against their mean (default 2; 0 for the mean
        /// alone), for tuning on a validation split.
        #[arg(long)]
        extremes_weight: Option<f32>,
        /// Cosine similarity to the best intent's closest example below which a message is out of scope
        /// (default 0.4; with word vectors only).
        #[arg(long)]
        min_similarity: Option<f32>,
        /// Correct unseen words even when the word vectors know them (for ablations).
        #[arg(long)]
        correct_known_words: bool,
        /// Weight of the prototype term (similarity to each intent's centroid) in the ranking (default
        /// 1.0; 0 for the SVM alone; with word vectors only).
        #[arg(long)]
        prototype_weight: Option<f32>,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// The satisfaction report: NPS, resolution rate and irritants by channel, intent and period.
    Report {
        /// From this date or RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Until this date or time (excluded).
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        intent: Option<String>,
        /// day, week or month.
        #[arg(long, default_value = "day")]
        period: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Conversation logs.
    Conversations {
        #[command(subcommand)]
        action: ConversationsCmd,
    },
    /// Replay the conversation files of a folder (`*.toml`) and report what passed; exit code 1 on a failure.
    Test {
        /// The folder of conversation files.
        #[arg(default_value = "tests/conversations")]
        dir: PathBuf,
        /// The customers each conversation starts with (default: DIR/customers.json, if there is one).
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Show every conversation's turns, not only the failures'.
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Customer profiles.
    Customers {
        #[command(subcommand)]
        action: CustomersCmd,
    },
    /// The fulfillment webhook.
    Fulfillment {
        #[command(subcommand)]
        action: FulfillmentCmd,
    },
    /// The store itself.
    Store {
        #[command(subcommand)]
        action: StoreCmd,
    },
}

#[derive(Subcommand)]
enum FulfillmentCmd {
    /// What a live lookup adds to a turn against the reference backend, and what a dead backend costs
    /// turns that need none, side by side.
    Bench {
        /// Turns in each run.
        #[arg(long, default_value_t = 500)]
        turns: usize,
        /// The intents folder.
        #[arg(long, default_value = "./intents")]
        intents: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Read every record and index entry and say what is damaged (exit code 1 if anything is).
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Copy a whole store (sled to PostgreSQL and back), with a progress bar and a count check.
    Copy {
        /// A data directory or a `postgres://…` URL.
        #[arg(long)]
        from: String,
        /// A data directory or a `postgres://…` URL (migrated first); it should be empty.
        #[arg(long)]
        to: String,
    },
    /// Durable turns per second with and without the fdatasync, side by side, on a temporary store.
    Bench {
        /// Turns in each measurement.
        #[arg(long, default_value_t = 2000)]
        turns: usize,
        /// Writers sharing group commits in the second measurement.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

#[derive(Subcommand)]
enum CustomersCmd {
    /// Import customers (profile, orders, identities) from a JSON or CSV file.
    Import {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// A customer's profile, identities and journey.
    Show {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Everything held on a customer, as JSON.
    Export {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Erase a customer (profile, identities, transcripts); reports keep anonymous counts.
    Forget {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Merge customer FROM into INTO (identities and conversations follow).
    Merge {
        from: String,
        into: String,
        #[command(flatten)]
        common: Common,
    },
    /// Move one identity (channel:id) and its conversations to a new customer.
    Split {
        id: String,
        identity: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Clone)]
struct SelectArgs {
    #[arg(long)]
    channel: Option<String>,
    /// From this date or RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Until this date (included) or time (excluded).
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    intent: Option<String>,
    #[arg(long)]
    customer: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

impl SelectArgs {
    fn selection(self) -> commands::staff::Selection {
        commands::staff::Selection {
            channel: self.channel,
            since: self.since,
            until: self.until,
            intent: self.intent,
            customer: self.customer,
            limit: self.limit,
        }
    }
}

#[derive(Subcommand)]
enum ConversationsCmd {
    /// Conversations, newest first.
    List {
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        common: Common,
    },
    /// A transcript with each turn's intent and confidence.
    Show {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Conversations as JSON or CSV (one row per turn).
    Export {
        #[arg(long, default_value = "json")]
        format: String,
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        common: Common,
    },
}

fn main() {
    let cli = Cli::parse();
    // sled panics on some damaged pages: that is a damaged store to report, not a crash.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        Err(panic) => {
            eprintln!(
                "error: stopped on an internal error ({}); if the store is damaged, `parcours store check` says what is",
                commands::panic_message(&panic)
            );
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // The terminal channel and the staff commands share the terminal with a person: only warnings there.
    let default_filter = match cli.command {
        Command::Serve { .. } | Command::Migrate { .. } => "warn,parcours=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    match cli.command {
        Command::Serve {
            listen,
            migrate,
            common,
        } => runtime.block_on(async {
            let mut paths = common.paths();
            paths.migrate = migrate;
            let bot = commands::load_bot(&paths).await?;
            commands::serve::run(bot, listen, &common.data_dir).await
        }),
        Command::Migrate { store } => runtime.block_on(commands::migrate(&store)),
        Command::DemoBackend { listen, customers } => {
            runtime.block_on(commands::demo_backend(listen, &customers))
        }
        Command::Test {
            dir,
            customers,
            json,
            verbose,
            common,
        } => {
            let ok = runtime.block_on(commands::test::run(
                &dir,
                &common.paths(),
                customers.as_deref(),
                json,
                verbose,
            ))?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Chat {
            user,
            locale,
            common,
        } => {
            let locale = match locale {
                Some(l) => Some(
                    Lang::from_locale(&l)
                        .with_context(|| format!("unsupported locale {l:?} (en or fr)"))?,
                ),
                None => None,
            };
            runtime.block_on(async {
                let bot = commands::load_bot(&common.paths()).await?;
                commands::chat::run(&bot, &user, locale).await
            })
        }
        Command::Eval {
            test,
            train,
            intents,
            oos_label,
            threshold,
            svm_c,
            no_spelling,
            no_vectors,
            no_stems,
            vector_weight,
            extremes_weight,
            min_similarity,
            correct_known_words,
            prototype_weight,
            json,
        } => {
            let settings =
                parcours::config::Settings::load(std::path::Path::new("parcours.toml"), false)?;
            let opts = parcours::eval::EvalOptions {
                test,
                train,
                intents,
                oos_label,
                nlu: parcours::nlu::NluConfig {
                    threshold: threshold.unwrap_or(settings.fallback_threshold),
                    classifier: parcours::nlu::classifier::Config {
                        c: svm_c.unwrap_or(parcours::nlu::classifier::Config::default().c),
                        vector_weight: vector_weight
                            .unwrap_or(parcours::nlu::classifier::Config::default().vector_weight),
                        extremes_weight: extremes_weight.unwrap_or(
                            parcours::nlu::classifier::Config::default().extremes_weight,
                        ),
                        ..Default::default()
                    },
                    spelling: !no_spelling,
                    vectors: !no_vectors,
                    stems: !no_stems,
                    min_similarity: min_similarity
                        .unwrap_or(parcours::nlu::NluConfig::default().min_similarity),
                    keep_known_words: !correct_known_words,
                    prototype_weight: prototype_weight
                        .unwrap_or(parcours::nlu::NluConfig::default().prototype_weight),
                    // Every message classified: the evaluation's timings are a parse's.
                    class_memo: 0,
                },
            };
            let progress = if json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(0)
            };
            let report = parcours::eval::run(&opts, &progress)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.readable());
            }
            Ok(())
        }
        Command::Report {
            since,
            until,
            channel,
            intent,
            period,
            json,
            common,
        } => {
            let query = parcours::staff::ReportQuery {
                since,
                until,
                channel,
                intent,
                period: Some(period),
            };
            let filter = query.filter().map_err(|e| anyhow::anyhow!(e.message))?;
            let pack = parcours::intents::IntentPack::load(&common.intents)
                .context("loading the intents")?;
            let (report, journeys) = runtime.block_on(async {
                let store = commands::open_store(&common.paths()).await?;
                let ignore = pack.non_topic_intents();
                let report =
                    parcours::report::satisfaction(store.as_ref(), &filter, &ignore).await?;
                let journeys = parcours::report::journeys(store.as_ref(), &filter, &ignore).await?;
                anyhow::Ok((report, journeys))
            })?;
            if json {
                let both = serde_json::json!({ "satisfaction": report, "journeys": journeys });
                println!("{}", serde_json::to_string_pretty(&both)?);
            } else {
                print!("{}", report.table());
                println!(
                    "\njourneys: {} customers, repeat contact rate {}",
                    journeys.customers,
                    journeys
                        .repeat_contact_rate
                        .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0))
                );
                for (path, n) in &journeys.channel_paths {
                    println!("  {path}: {n}");
                }
            }
            Ok(())
        }
        Command::Store {
            action: StoreCmd::Check { common },
        } => commands::store_check(&common.data_dir, &mut std::io::stdout().lock()),
        Command::Store {
            action: StoreCmd::Copy { from, to },
        } => runtime.block_on(commands::store_copy::run(&from, &to)),
        Command::Store {
            action: StoreCmd::Bench { turns, concurrency },
        } => runtime.block_on(commands::store_bench(
            turns,
            concurrency,
            &mut std::io::stdout().lock(),
        )),
        Command::Fulfillment {
            action: FulfillmentCmd::Bench { turns, intents },
        } => runtime.block_on(commands::fulfillment_bench::run(
            &intents,
            turns,
            &mut std::io::stdout().lock(),
        )),
        Command::Customers { action } => runtime.block_on(async {
            let mut out = std::io::stdout().lock();
            match action {
                CustomersCmd::Import { file, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    let records = commands::customers::read(&file)?;
                    let n = commands::customers::import(store.as_ref(), records).await?;
                    println!("imported {n} customers into {}", common.where_());
                    Ok(())
                }
                CustomersCmd::Show { id, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::show_customer(store.as_ref(), &id, &mut out).await
                }
                CustomersCmd::Export { id, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::export_customer(store.as_ref(), &id, &mut out).await
                }
                CustomersCmd::Forget { id, common } => {
                    commands::staff::forget(&common.paths(), &id, &mut out).await
                }
                CustomersCmd::Merge { from, into, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::merge(store.as_ref(), &from, &into, &mut out).await
                }
                CustomersCmd::Split {
                    id,
                    identity,
                    common,
                } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::split(store.as_ref(), &id, &identity, &mut out).await
                }
            }
        }),
        Command::Conversations { action } => runtime.block_on(async {
            let mut out = std::io::stdout().lock();
            match action {
                ConversationsCmd::List { select, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::list(store.as_ref(), &select.selection(), &mut out).await
                }
                ConversationsCmd::Show { id, common } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::show(store.as_ref(), &id, &mut out).await
                }
                ConversationsCmd::Export {
                    format,
                    select,
                    common,
                } => {
                    let store = commands::open_store(&common.paths()).await?;
                    commands::staff::export(store.as_ref(), &select.selection(), &format, &mut out)
                        .await
                }
            }
        }),
    }
}
