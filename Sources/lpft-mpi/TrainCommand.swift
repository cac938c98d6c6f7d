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
            checkpoints/ (the last complete epoch; --resume continues from it) and,
            unless --save-model none, model/ (a Hugging Face folder with the head files,
            for predict, evaluate and transformers) and, for LoRA methods, adapter/
            (PEFT's layout).
              mpirun -np 2 lpft-mpi train --task sentiment-ood --method lp-ft --out runs/lpft
            """)

    @OptionGroup var data: DataOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var job: JobOptions
    @Option(help: "lp, ft, lp-ft, lora or lp-lora.")
    var method: TrainingMethod
    @Option(help: "Output directory.")
    var out: String
    @Option(help: "Epochs of the training stage.")
    var epochs = 10
    @Option(help: "Global batch size (divisible by the number of ranks).")
    var batchSize = 16
    @Option(help: "Peak learning rate (default: 5e-5 for FT and LP-FT, 5e-4 for LoRA and LP-LoRA).")
    var lr: Double?
    @Option(help: "Random seed (head initialisation, data order, dropout).")
    var seed: UInt64 = 1001
    @Option(help: "Maximum tokens per example, special tokens included.")
    var maxLength = 128
    @Option(help: "LoRA rank r.")
    var loraR = 8
    @Option(help: "LoRA alpha (scaling alpha / r).")
    var loraAlpha: Double = 8
    @Option(help: "Fraction of the steps with linear warm-up.")
    var warmupRatio: Double = 0
    @Option(help: "AdamW weight decay (not on biases and LayerNorm weights).")
    var weightDecay: Double = 0
    @Option(help: "Use a fixed random subset of N training examples (seed 0, original order).")
    var maxTrain: Int?
    @Option(help: "Use a fixed random subset of N examples of each evaluation set (seed 0, original order).")
    var maxEval: Int?
    @Option(help: "Multiply the LP head by s before the training stage (head-norm experiment).")
    var headScale: Double = 1
    @Option(help: "Examples per forward pass when evaluating.")
    var evalBatchSize = 64
    @Option(help: "Dropout probability for hidden states, attention and the head (default: the model's, 0.1).")
    var dropout: Double?
    @Option(help: "final: write OUT/model (and OUT/adapter for LoRA) at the end; none: do not (sweeps of many runs).")
    var saveModel: ModelSaving = .final
    @Flag(help: "Continue from the last complete checkpoint in --out.")
    var resume = false
    @Flag(help: "No progress output.")
    var quiet = false
    /// Fault drill for the resume tests: rank 0 kills itself (SIGKILL) once epoch K's
    /// checkpoint is complete, as a node failure would.
    @Option(help: .hidden)
    var drillKillAfterEpoch: Int?

    func run(comm: Communicator) throws {
        let config = TrainingConfig(
            method: method, modelDirectory: try model.resolve().path, outputDirectory: out, data: data.summary,
            epochs: epochs, batchSize: batchSize, learningRate: lr, seed: seed, maxLength: maxLength,
            loraRank: loraR, loraAlpha: loraAlpha, warmupRatio: warmupRatio, weightDecay: weightDecay,
            maxTrain: maxTrain, maxEval: maxEval, headScale: headScale, evalBatchSize: evalBatchSize, dropout: dropout,
            saveModel: saveModel)
        try config.validate(worldSize: comm.size)
        let task = try data.load()
        let trainer = try Trainer(comm: comm, config: config, task: task, progress: !quiet)
        if let drillEpoch = drillKillAfterEpoch, comm.isRoot {
            trainer.afterCheckpoint = { epoch in if epoch == drillEpoch { kill(getpid(), SIGKILL) } }
        }
        let metrics = try trainer.run(resume: resume)
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
