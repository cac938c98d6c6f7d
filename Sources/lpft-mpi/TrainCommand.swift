import ArgumentParser
import Distributed
import Foundation
import Model

struct Train: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune by LP, FT, LP-FT, LoRA or LP-LoRA (data-parallel over the ranks) and measure what the paper measures.",
        discussion: """
            Writes to --out (rank 0): config.json (resolved settings, world size, git
            commit), history.jsonl (one line per epoch), steps.jsonl (one line per
            optimizer step), metrics.json (accuracy, F1, MCC, ECE/MCE/Brier/NLL before
            and after temperature scaling per evaluation set, head norms, feature change
            Diff/CS/FDR, timings), head.safetensors, lp_head.safetensors,
            lora.safetensors, logits/<set>.npy (final logits of every evaluation set),
            checkpoints/ (the last complete checkpoint, epoch-K or step-S; --resume
            continues from it on any number of ranks), tensorboard/ (--tensorboard) and,
            unless --save-model none, model/ (a Hugging Face folder with the head files,
            for predict, evaluate and transformers) and, for LoRA methods, adapter/
            (PEFT's layout).
            --out must be new or empty unless --resume (continue the run there) or
            --overwrite (replace it). A run that fails writes FAILED with its message
            and no metrics.json. On SIGTERM or SIGUSR1 every rank stops after the same
            step, rank 0 checkpoints, and the job exits with status 75 ("checkpointed at
            step S; rerun with --resume").
              mpirun -np 2 lpft-mpi train --task sentiment-ood --method lp-ft --out runs/lpft
            """)

    @OptionGroup var options: TrainOptions
    @OptionGroup var job: JobOptions

    func run(comm: Communicator) throws {
        // Before the model loads: a stop signal then waits for the first checkpoint.
        StopRequest.install()
        let directory = try options.model.resolve()
        // An unreadable config.json is reported by the model's own checks when it loads.
        let defaultMaxLength = (try? EncoderConfig.load(directory: directory))?.defaultMaxLength ?? 128
        let config = options.config(modelDirectory: directory.path, defaultMaxLength: defaultMaxLength)
        try config.validate(worldSize: comm.size)
        let claim = try Trainer.claimOutputFolder(comm: comm, config: config, mode: options.folderMode)
        if claim == .complete {
            printRoot(comm, "\(options.out) holds this run, complete (metrics.json); nothing to resume (--overwrite runs it again)")
            return
        }
        let task = try options.data.load()
        let trainer = try Trainer(comm: comm, config: config, task: task, progress: !options.quiet)
        if comm.isRoot && (options.drillKillAfterEpoch != nil || options.drillKillAfterStep != nil) {
            let drillEpoch = options.drillKillAfterEpoch, drillStep = options.drillKillAfterStep
            trainer.afterCheckpoint = { epochs, steps, atEpochEnd in
                if (atEpochEnd && epochs == drillEpoch) || steps == drillStep { kill(getpid(), SIGKILL) }
            }
        }
        let metrics: RunMetrics
        do {
            metrics = try trainer.run(resume: claim == .resume)
        } catch let stop as Preempted {
            // Every rank stopped at the same step and the checkpoint is complete.
            throw JobExit(code: StopRequest.exitCode, message: stop.localizedDescription)
        }
        guard comm.isRoot else { return }
        var rows = [["set", "accuracy", "f1", "ece", "ece_ts", "T"]]
        for name in ["validation", "test"] + task.ood.map(\.name) {
            guard let m = metrics.eval[name] else { continue }
            rows.append([name, String(format: "%.4f", m.accuracy), String(format: "%.4f", m.f1),
                         String(format: "%.4f", m.ece), String(format: "%.4f", m.ece_ts), String(format: "%.3f", m.temperature)])
        }
        for line in alignedRows(rows) { print(line) }
        print(String(format: "head norm: init %.3f, after LP %@, final %.3f;  Diff(F) %.4f;  %@",
                     metrics.head_norm.`init`, metrics.head_norm.after_lp.map { String(format: "%.3f", $0) } ?? "-",
                     metrics.head_norm.final, metrics.features.diff, Trainer.duration(metrics.timing.total_seconds)))
    }
}
