import ArgumentParser
import Distributed
import Foundation
import Model

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hyperparameter sweeps: plan a grid into a manifest, run it locally or as a Slurm job array.",
        discussion: """
            lpft-mpi sweep plan grid.yaml --out sweeps/s1
            lpft-mpi sweep run sweeps/s1 --scheduler local --ranks 2
            lpft-mpi sweep run sweeps/s1 --scheduler slurm --ranks 4 \\
                --max-concurrent 8 --time 2:00:00 --submit
            lpft-mpi sweep status sweeps/s1
            lpft-mpi report sweeps/s1
            """,
        subcommands: [Plan.self, Run.self, Status.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expand a grid file (YAML or JSON) into SWEEPDIR/manifest.jsonl, one run per line.",
            discussion: """
                A grid file (a list is an axis; overrides are per method, null
                removes a parameter; a task is a built-in name or a map of data flags
                such as {name: n, train: f, test: f, ood: [x=f]}):
                  tasks: [sentiment-ood]
                  methods: [lp, ft, lp-ft, lora, lp-lora]
                  seeds: [1001, 2002, 3003]
                  parameters: {epochs: 10, batch-size: 16, lr: [1e-5, 5e-5]}
                  overrides:
                    lora: {lr: [5e-4, 1e-3]}
                    lp: {lr: null, epochs: null}
                A run's id is <task>-<method>-s<seed>-<hash of its train arguments>:
                the same settings always get the same id, so re-planning keeps
                finished runs.
                """)

        @Argument(help: "Grid file (.yaml, .yml or .json).")
        var grid: String
        @Option(help: "Sweep folder to create (manifest.jsonl, runs/, logs/).")
        var out: String
        @Option(parsing: .unconditional, help: "Refuse a grid that expands to more runs than this.")
        var maxRuns: Int = SweepGrid.defaultRunLimit

        func validate() throws {
            try Check.integer("--max-runs", maxRuns, in: 1...10_000_000)
        }

        func run() throws {
            let gridURL = URL(fileURLWithPath: grid)
            let grid = try SweepGrid.load(gridURL)
            let runs = try grid.expand(limit: maxRuns, source: gridURL.path)
            try validateTrainArguments(runs, grid: grid)
            let sweep = SweepDirectory(URL(fileURLWithPath: out))
            let manifest = try sweep.writePlan(runs, gridFile: gridURL)
            let complete = runs.filter { sweep.state(of: $0.id) == .complete }.count
            print("planned \(runs.count) run(s) into \(manifest.path)" + (complete > 0 ? " (\(complete) already complete)" : ""))
            for run in runs { print("  \(run.id)") }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a planned sweep: locally through mpirun, or as a Slurm job array.",
            discussion: """
                Every run is `lpft-mpi train <its arguments> --out SWEEPDIR/runs/<id>
                --resume`, its output appended to SWEEPDIR/logs/<id>.log. A run whose
                metrics.json exists is skipped, so running or submitting again resumes
                the sweep (a run killed part-way continues from its last checkpoint).
                Checkpoints of finished runs are removed unless --keep-checkpoints.
                local: at most --parallel runs at once, each through scripts/launch on
                  --ranks ranks; BLAS threads per rank = cores / (ranks × parallel).
                slurm: writes SWEEPDIR/sweep.sbatch (#SBATCH --array=0-(N-1)%K,
                  --ntasks=R); --submit calls sbatch and prints the job id.
                  Follow it with: lpft-mpi sweep status SWEEPDIR
                """)

        enum Scheduler: String, ExpressibleByArgument, CaseIterable { case local, slurm }

        @Argument(help: "Sweep folder (from sweep plan).")
        var sweep: String
        @Option(help: "local or slurm.")
        var scheduler: Scheduler = .local
        @Option(parsing: .unconditional, help: "MPI ranks per run.")
        var ranks = 2
        @Option(parsing: .unconditional, help: "local: runs at once.")
        var parallel = 1
        @Flag(help: "local: allow more ranks than cores in total.")
        var oversubscribe = false
        @Option(help: "local: the script that starts a run's ranks (default: scripts/launch of the checkout that built this binary).")
        var launchScript: String?
        @Option(parsing: .unconditional, help: "slurm: array tasks at once (%K).")
        var maxConcurrent: Int?
        @Option(help: "slurm: partition.")
        var partition: String?
        @Option(help: "slurm: time limit per run, e.g. 2:00:00.")
        var time: String?
        @Option(parsing: .unconditional, help: "slurm: CPUs per rank (BLAS threads).")
        var cpusPerTask = 1
        @Option(help: "slurm: how ranks start in the allocation: mpirun or srun (srun --mpi=pmix).")
        var launch: SlurmScript.Launcher = .mpirun
        @Flag(help: "slurm: submit the script with sbatch.")
        var submit = false
        @Flag(help: "Keep runs/<id>/checkpoints of finished runs (the full model and optimizer state).")
        var keepCheckpoints = false
        @Option(parsing: .unconditional, help: "slurm: Slurm sends SIGUSR1 this many seconds before the time limit; the run checkpoints and its task is requeued.")
        var signalSeconds = 120

        func validate() throws {
            try Check.integer("--ranks", ranks, in: 1...65536)
            try Check.integer("--parallel", parallel, in: 1...1024)
            try Check.integer("--cpus-per-task", cpusPerTask, in: 1...1024)
            if let maxConcurrent { try Check.integer("--max-concurrent", maxConcurrent, in: 1...100_000) }
            try Check.integer("--signal-seconds", signalSeconds, in: 1...86_400)
            // A flag of the other scheduler would be ignored: refuse it (values other than the
            // defaults count as given).
            let slurmOnly = [("--max-concurrent", maxConcurrent != nil), ("--partition", partition != nil),
                             ("--time", time != nil), ("--submit", submit), ("--cpus-per-task", cpusPerTask != 1),
                             ("--launch", launch != .mpirun), ("--signal-seconds", signalSeconds != 120)]
            if scheduler == .local, let (name, _) = slurmOnly.first(where: { $0.1 }) {
                throw ValidationError("\(name) goes with --scheduler slurm; add --scheduler slurm or drop \(name)")
            }
            let localOnly = [("--parallel", parallel != 1), ("--oversubscribe", oversubscribe), ("--launch-script", launchScript != nil)]
            if scheduler == .slurm, let (name, _) = localOnly.first(where: { $0.1 }) {
                throw ValidationError("\(name) goes with --scheduler local; drop it for Slurm (--max-concurrent sets how many runs go at once)")
            }
        }

        func run() throws {
            let sweep = SweepDirectory(URL(fileURLWithPath: self.sweep))
            let runs = try sweep.readManifest()
            var programs = SweepPrograms.current()
            if let launchScript { programs.launcher = URL(fileURLWithPath: launchScript) }
            switch scheduler {
            case .local:
                let runner = LocalSweepRunner(sweep: sweep, programs: programs, ranks: ranks, parallel: parallel,
                                              oversubscribe: oversubscribe, keepCheckpoints: keepCheckpoints)
                print("sweep \(sweep.url.path): \(runs.count) run(s), \(parallel) at a time, \(ranks) rank(s) × \(runner.threadsPerRank) thread(s) each")
                fflush(stdout)
                let summary = try runner.run(runs) { line in print(line); fflush(stdout) }
                print("ran \(summary.ran.count), skipped \(summary.skipped.count) complete, \(summary.failed.count) failed in \(Trainer.duration(summary.seconds))")
                if !summary.failed.isEmpty {
                    print(sweep.statusSummary(runs))
                    throw ExitCode(1)
                }
            case .slurm:
                let script = SlurmScript(ranks: ranks, maxConcurrent: maxConcurrent, cpusPerTask: cpusPerTask,
                                         partition: partition, time: time, launcher: launch,
                                         jobName: "lpft-" + sweep.url.lastPathComponent, keepCheckpoints: keepCheckpoints,
                                         stopSignalSeconds: signalSeconds)
                let url = try script.write(runs: runs, sweep: sweep, binary: programs.binary)
                let complete = runs.filter { sweep.state(of: $0.id) == .complete }.count
                print("wrote \(url.path): \(runs.count) array task(s), \(complete) already complete (those exit at once)")
                if submit {
                    let job = try SlurmScript.submit(url)
                    print("submitted job \(job)")
                } else {
                    print("submit with: sbatch \(url.path)")
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Complete, failed and pending runs of a sweep; failed runs with their log paths.")

        @Argument(help: "Sweep folder.")
        var sweep: String

        func run() throws {
            let sweep = SweepDirectory(URL(fileURLWithPath: self.sweep))
            print(sweep.statusSummary(try sweep.readManifest()))
        }
    }
}

/// Parses and checks every run's arguments exactly as `lpft-mpi train` would, so that a typo or
/// a value out of range fails at planning time, naming the grid line it came from, not in
/// every run of a submitted job.
func validateTrainArguments(_ runs: [SweepRun], grid: SweepGrid) throws {
    for run in runs {
        do { _ = try Train.parse(run.arguments + ["--out", "/dev/null"]) } catch {
            let message = (error as? LocalizedError)?.errorDescription ?? Train.message(for: error)
            let method = TrainingMethod(rawValue: run.method) ?? .ft
            // The grid setting the message is about: the first of the run's flags it names.
            let flags = run.arguments.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2)) }
            let location = flags.first { message.contains("--\($0)") }
                .flatMap { grid.location(of: $0, method: method, task: run.task) }
            throw ValidationError((location.map { "\($0): " } ?? "") + "run \(run.id): \(message)")
        }
    }
}

extension SlurmScript.Launcher: ExpressibleByArgument {}
