// Its own file (Foundation only): the sweep grid reader and its fuzz target build without Model.

/// The five training methods of the paper.
public enum TrainingMethod: String, Codable, CaseIterable, Sendable {
    case lp, ft
    case lpFT = "lp-ft"
    case lora
    case lpLoRA = "lp-lora"

    /// Fits a linear probe on frozen features first (LP, LP-FT, LP-LoRA).
    public var fitsLinearProbe: Bool { self == .lp || self == .lpFT || self == .lpLoRA }
    /// Has a gradient-training stage after the (optional) probe.
    public var hasTrainingStage: Bool { self != .lp }
    /// The training stage updates LoRA factors and the head only.
    public var usesLoRA: Bool { self == .lora || self == .lpLoRA }
}

/// When `train` computes the eNTK of the model it trains (`--ntk-at-start`, `--ntk-every-epoch`).
public enum KernelSnapshots: String, Codable, Sendable, CaseIterable {
    /// At the start of the training stage (after LP and any head scaling): OUT/ntk/epoch-0.
    case start
    /// At the start and after every epoch: OUT/ntk/epoch-K, K = 0…epochs.
    case everyEpoch = "every-epoch"
}
