import Model

// The records of a run's files (history.jsonl, steps.jsonl, metrics.json): properties are
// named as their JSON keys, snake_case, so the files read as the code does.

/// One line of history.jsonl (one per epoch of the training stage).
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var train_loss: Double
    public var validation_accuracy: Double
    public var validation_loss: Double
    public var head_norm: Double
    public var learning_rate: Double
    public var seconds: Double
    public var eval_seconds: Double
    public var examples_per_s: Double
    /// The optimizer steps done when the validation ran (nil in runs written before it was
    /// recorded); with --eval-every a line is a validation, not an epoch.
    public var global_step: Int? = nil
}

/// One line of steps.jsonl (one per optimizer step; the loss is the global mean).
public struct StepRecord: Codable, Sendable {
    public var epoch: Int
    public var step: Int
    public var global_step: Int
    public var loss: Double
    public var grad_norm: Double
    public var learning_rate: Double
    /// Wall time of the step, and the time it waited for the gradient sums over the ranks (0 on
    /// one rank; with --overlap on only the part backward did not hide); optional so that
    /// checkpoints written before these fields were added still load.
    public var seconds: Double? = nil
    public var allreduce_seconds: Double? = nil
}

/// What the linear probe chose.
public struct LinearProbeInfo: Codable, Sendable {
    public var strength: Double
    public var cv_accuracy: Double
    public var iterations: Int
}

/// Metrics of one evaluation set (the CalibrationReport keys plus a few more).
public struct SetMetrics: Codable, Sendable {
    public var accuracy, f1, mcc, ece, mce, brier, nll: Double
    public var ece_ts, mce_ts, brier_ts, nll_ts, temperature: Double
    public var mean_logit_norm: Double
    public var examples: Int
    /// Reliability diagrams (15 bins) before and after temperature scaling; nil in runs
    /// written before they were recorded.
    public var reliability: Reliability?

    /// The metrics of logits (n, C) against labels, calibration after T = `temperature` — the
    /// run's final evaluation and `lpft-mpi evaluate` compute them alike.
    public init(logits: [Float], labels: [Int], classes: Int, temperature: Double) throws {
        let l = try Logits(logits, classes: classes)
        let reliability = Reliability(before: try ReliabilityDiagram(logits: l, labels: labels),
                                      after: try ReliabilityDiagram(logits: l, labels: labels, temperature: temperature))
        self.init(report: try CalibrationReport(logits: l, labels: labels, temperature: temperature),
                  meanLogitNorm: try FeatureStatistics.meanLogitNorm(l), examples: labels.count, reliability: reliability)
    }

    init(report r: CalibrationReport, meanLogitNorm: Double, examples: Int, reliability: Reliability? = nil) {
        accuracy = r.accuracy; f1 = r.f1; mcc = r.mcc; ece = r.ece; mce = r.mce; brier = r.brier; nll = r.nll
        ece_ts = r.eceScaled; mce_ts = r.mceScaled; brier_ts = r.brierScaled; nll_ts = r.nllScaled
        temperature = r.temperature
        mean_logit_norm = meanLogitNorm
        self.examples = examples
        self.reliability = reliability
    }
}

/// Reliability diagrams of one evaluation set at T = 1 and at the fitted temperature.
public struct Reliability: Codable, Sendable {
    public var before: ReliabilityDiagram
    public var after: ReliabilityDiagram

    public init(before: ReliabilityDiagram, after: ReliabilityDiagram) {
        self.before = before
        self.after = after
    }
}

/// Classifier-head norms ‖V‖_F through the run.
public struct HeadNorms: Codable, Sendable {
    public var `init`: Double
    public var after_lp: Double?
    /// After --head-scale, when the training stage starts.
    public var start_of_training: Double?
    public var final: Double
    public var per_epoch: [Double]
}

/// Feature change of the training stage on the test set (PAPER.md definitions).
public struct FeatureMetrics: Codable, Sendable {
    public var diff: Double
    public var cs: Double
    public var fdr: Double
    public var cs_before: Double
    public var fdr_before: Double
}

public struct Timing: Codable, Sendable {
    public var total_seconds: Double
    public var phases: [String: Double]
    public var train_examples_per_s: Double?
    public var eval_examples_per_s: Double
}

/// metrics.json.
public struct RunMetrics: Codable, Sendable {
    public var method: String
    public var data: String
    public var world_size: Int
    public var classes: [String]
    public var eval: [String: SetMetrics]
    public var head_norm: HeadNorms
    public var features: FeatureMetrics
    public var linear_probe: LinearProbeInfo?
    public var best_epoch: Int?
    public var timing: Timing
}

/// Progress of a run that a checkpoint must carry to resume exactly.
struct TrainingState: Codable {
    var linearProbeDone = false
    var linearProbe: LinearProbeInfo?
    var headNormInit = 0.0
    var headNormAfterLP: Double?
    var headNormStart: Double?
    var completedEpochs = 0
    /// Optimizer steps done (nil in checkpoints of older runs: completedEpochs whole epochs),
    /// and the running sums since the last validation, so a mid-epoch checkpoint resumes the
    /// records exactly.
    var completedSteps: Int?
    var lossSinceValidation: Double?
    var stepsSinceValidation: Int?
    var secondsSinceValidation: Double?
    var bestEpoch: Int?
    var bestValidationAccuracy = -1.0
    var history: [EpochRecord] = []
    var steps: [StepRecord] = []
    /// Test-set features before the training stage (kept in the checkpoint's tensors file).
    var testFeaturesBefore: [Float]?

    enum CodingKeys: String, CodingKey {
        case linearProbeDone, linearProbe, headNormInit, headNormAfterLP, headNormStart, completedEpochs
        case completedSteps, lossSinceValidation, stepsSinceValidation, secondsSinceValidation
        case bestEpoch, bestValidationAccuracy, history, steps
    }
}
