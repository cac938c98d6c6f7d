import Foundation
import Model

/// Checkpoints: after LP, at every epoch end and validation, and with --checkpoint-every /
/// --checkpoint-minutes or a stop signal after any step, rank 0 writes checkpoints/epoch-K/
/// (at the end of epoch K) or checkpoints/step-S/ (after global step S inside an epoch) with
/// state.json (progress, history, the run's configuration and world size), tensors.safetensors
/// (the trainable parameters, the best copy, AdamW moments) and finally COMPLETE. The folder
/// is assembled under a temporary name and renamed, so a checkpoint either exists whole or not
/// at all; older ones are removed afterwards. Nothing in it depends on the number of ranks
/// (global batches are a function of seed, epoch and step; dropout masks of step and rank), so
/// `--resume` may run on any number of ranks: on the same number it reproduces the
/// uninterrupted run exactly, on another one up to float summation order (and dropout masks).
extension Trainer {
    struct CheckpointState: Codable {
        var state: TrainingState
        var worldSize: Int
        var configuration: String
        var savedRange: [Int]
        var optimizerStep: Int

        /// The arena range of the saved block; nil when state.json's savedRange is malformed.
        var block: Range<Int>? {
            guard savedRange.count == 2, savedRange[0] >= 0, savedRange[0] <= savedRange[1] else { return nil }
            return savedRange[0]..<savedRange[1]
        }
    }

    var checkpointRoot: URL { output.appendingPathComponent("checkpoints") }

    /// The run's settings that must not change across a resume: all but those of
    /// `RunFolder.resumableSettings` (where the files go, the ranks, how a step is cut into
    /// passes, how often checkpoints are written).
    var configurationFingerprint: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(config)) ?? Data(), as: UTF8.self)
    }

    /// The name of the checkpoint that holds `state`.
    func checkpointName(_ state: TrainingState) -> String {
        guard let steps = state.completedSteps, steps % stepsPerEpoch != 0 else { return "epoch-\(state.completedEpochs)" }
        return "step-\(steps)"
    }

    func saveCheckpoint(_ state: TrainingState, optimizer: AdamW<Float>? = nil, range: Range<Int>? = nil,
                        best: [Float]? = nil) throws {
        defer { _ = try? comm.barrier() }
        guard comm.isRoot else { return }
        let saved = range ?? model.parameters.range(of: [.head])
        let name = checkpointName(state)
        let temp = checkpointRoot.appendingPathComponent(".\(name).tmp")
        let final = checkpointRoot.appendingPathComponent(name)
        let fm = FileManager.default
        try FileOperations.remove(temp)
        try FileOperations.createDirectory(temp)
        // A checkpoint that cannot be completed leaves no half-written folder behind.
        var completed = false
        defer { if !completed { try? fm.removeItem(at: temp) } }
        var tensors: [SafetensorsWriter.Tensor] = [
            .init(name: "values", shape: [saved.count], values: .float32(Array(model.parameters.values[saved]))),
        ]
        if let best { tensors.append(.init(name: "best", shape: [best.count], values: .float32(best))) }
        if let before = state.testFeaturesBefore {
            tensors.append(.init(name: "test_features_before", shape: [before.count], values: .float32(before)))
        }
        if let optimizer {
            let s = optimizer.state()
            tensors.append(.init(name: "adam_m", shape: [s.first.count], values: .float32(s.first)))
            tensors.append(.init(name: "adam_v", shape: [s.second.count], values: .float32(s.second)))
            tensors.append(.init(name: "active_rows", shape: [s.activeRows.count], values: .int64(s.activeRows.map(Int64.init))))
        }
        try SafetensorsWriter.write(tensors, to: temp.appendingPathComponent("tensors.safetensors"))
        let record = CheckpointState(state: state, worldSize: comm.size, configuration: configurationFingerprint,
                                     savedRange: [saved.lowerBound, saved.upperBound], optimizerStep: optimizer?.step ?? 0)
        try RunFiles.writeJSON(record, to: temp.appendingPathComponent("state.json"))
        try FileOperations.writeAtomically(Data("complete\n".utf8), to: temp.appendingPathComponent("COMPLETE"))
        try FileOperations.remove(final)
        try FileOperations.move(temp, to: final)
        completed = true
        // Older checkpoints are superseded.
        for old in (try? fm.contentsOfDirectory(atPath: checkpointRoot.path)) ?? [] where Self.stepsDone(checkpoint: old, stepsPerEpoch: 1) != nil && old != name {
            try? fm.removeItem(at: checkpointRoot.appendingPathComponent(old))
        }
    }

    /// The optimizer steps a checkpoint folder's name says it holds (epoch-K: K epochs,
    /// step-S: S steps); nil for other names.
    static func stepsDone(checkpoint name: String, stepsPerEpoch: Int) -> Int? {
        if name.hasPrefix("epoch-"), let k = Int(name.dropFirst(6)), k >= 0 { return k * stepsPerEpoch }
        if name.hasPrefix("step-"), let s = Int(name.dropFirst(5)), s >= 0 { return s }
        return nil
    }

    /// The complete checkpoints under `root` (epoch-K or step-S folders with a COMPLETE
    /// marker), oldest first; at equal steps an epoch's end (validated) comes last.
    static func completeCheckpoints(in root: URL, stepsPerEpoch: Int = 1) -> [String] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: root.path)) ?? []).filter {
            stepsDone(checkpoint: $0, stepsPerEpoch: stepsPerEpoch) != nil
                && fm.fileExists(atPath: root.appendingPathComponent("\($0)/COMPLETE").path)
        }
        func key(_ name: String) -> (Int, Int) { (stepsDone(checkpoint: name, stepsPerEpoch: stepsPerEpoch)!, name.hasPrefix("epoch-") ? 1 : 0) }
        return names.sorted { key($0) < key($1) }
    }

    /// The record (state.json) and tensors of the checkpoint folder `dir`.
    static func readCheckpoint(_ dir: URL) throws -> (record: CheckpointState, tensors: SafetensorsFile) {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("state.json").path),
              let record = try? JSONDecoder().decode(CheckpointState.self, from: data) else {
            throw TrainingError.badCheckpoint("\(dir.path)/state.json is unreadable; delete the checkpoint folder to start over")
        }
        return (record, try SafetensorsFile(url: dir.appendingPathComponent("tensors.safetensors")))
    }

    /// The last complete checkpoint, if any: restores its parameters and returns its state.
    func loadCheckpoint() throws -> TrainingState? {
        guard let name = Self.completeCheckpoints(in: checkpointRoot, stepsPerEpoch: stepsPerEpoch).last else {
            progress.log("no complete checkpoint in \(checkpointRoot.path); starting from the beginning")
            return nil
        }
        let dir = checkpointRoot.appendingPathComponent(name)
        let (record, tensors) = try Self.readCheckpoint(dir)
        // Any number of ranks may continue; the settings that shape training may not change.
        let differences = RunFolder.settingDifferences(previous: Data(record.configuration.utf8), current: config, also: []) ?? ["(unreadable settings)"]
        guard differences.isEmpty else {
            throw TrainingError.badCheckpoint("checkpoint \(dir.path) belongs to a run with other settings: \(differences.joined(separator: "; ")); resume with the same flags or use a new --out")
        }
        if record.worldSize != comm.size {
            progress.log("the checkpoint was written on \(record.worldSize) rank(s); continuing on \(comm.size)")
        }
        let values = try tensors.floats("values")
        guard let range = record.block, values.count == range.count, range.upperBound <= model.parameters.count else {
            throw TrainingError.badCheckpoint("\(dir.path): parameter block does not match this model")
        }
        _ = values.withUnsafeBufferPointer { model.parameters.values[range].update(from: $0) }
        resumeFrom = tensors
        resumeOptimizerStep = record.optimizerStep
        var state = record.state
        if tensors.info("test_features_before") != nil { state.testFeaturesBefore = try tensors.floats("test_features_before") }
        return state
    }

    /// Restores AdamW moments and the best parameters of a resumed training stage.
    func restoreTrainingCheckpoint(_ state: inout TrainingState, optimizer: AdamW<Float>, range: Range<Int>,
                                   best: inout [Float]) throws {
        guard let tensors = resumeFrom else { throw TrainingError.badCheckpoint("no checkpoint tensors to resume from") }
        let first = try tensors.floats("adam_m"), second = try tensors.floats("adam_v")
        let active = try tensors.int64s("active_rows").map { UInt8($0) }
        best = try tensors.floats("best")
        guard first.count == range.count, best.count == range.count, active.count == optimizer.activeRows.count else {
            throw TrainingError.badCheckpoint("checkpoint optimizer state does not match this model")
        }
        optimizer.restore(first: first, second: second, step: resumeOptimizerStep, activeRows: active)
    }
}

// MARK: - Stop signals (they end in a checkpoint)

/// SIGTERM and SIGUSR1 (what Slurm sends before a time limit with `--signal=B:USR1@SECONDS`,
/// and on preemption) ask the training loop to stop at the next step boundary. The handler
/// only stores 1 into preallocated memory (async-signal-safe); the loop reads the flag, the
/// ranks OR their flags in the step's small allreduce, so all stop at the same step, rank 0
/// checkpoints, and the job exits with `exitCode`.
public enum StopRequest {
    /// The exit status of a run that stopped on a signal after checkpointing (EX_TEMPFAIL:
    /// "try again"); the Slurm script requeues its task on it.
    public static let exitCode: Int32 = 75

    /// Allocated (and its lazy initialiser run) in `install`, before any handler can fire.
    nonisolated(unsafe) static let flag: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// Installs the handlers for SIGTERM and SIGUSR1 (idempotent).
    public static func install() {
        _ = flag.pointee
        for signalNumber in [SIGTERM, SIGUSR1] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in StopRequest.flag.pointee = 1 }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signalNumber, &action, nil)
        }
    }

    /// Whether this process received a stop signal.
    static var isRequested: Bool { flag.pointee != 0 }
}

/// The run stopped on a signal after writing a checkpoint at `step`; the CLI exits with
/// `StopRequest.exitCode`.
public struct Preempted: Error, LocalizedError {
    public var step: Int
    public var errorDescription: String? { "checkpointed at step \(step); rerun with --resume" }
}
