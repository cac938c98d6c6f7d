import Foundation

/// What a report reads from one finished run directory: config.json, metrics.json,
/// history.jsonl and, when an NTK was computed for it, the kernel at the start of training
/// (ntk/epoch-0/kernel.json from `train --ntk-at-start|--ntk-every-epoch`, or ntk/kernel.json,
/// kernel.json) and the kernel over the epochs (ntk/epoch-K).
public struct RunResult: Sendable {
    public var directory: URL
    /// The task's name (the built-in task, or the sweep's task name).
    public var task: String
    public var method: String
    public var seed: UInt64
    public var config: TrainingConfig
    public var metrics: RunMetrics
    public var history: [EpochRecord]
    public var kernel: KernelStatistics?
    public var kernelTrajectory: KernelTrajectory?

    /// Loads a run directory; `task` overrides the name derived from config.json.
    public static func load(_ directory: URL, task: String? = nil) throws -> RunResult {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func read<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ReportError.unreadable(path: url.path, reason: "missing; is this a finished lpft-mpi train --out folder?")
            }
            do { return try decoder.decode(T.self, from: data) } catch {
                throw ReportError.unreadable(path: url.path, reason: "not the expected format (\(error)); was it written by this lpft-mpi?")
            }
        }
        let config = try read("config.json", as: TrainingConfig.self)
        let metrics = try read("metrics.json", as: RunMetrics.self)
        var history: [EpochRecord] = []
        let historyURL = directory.appendingPathComponent("history.jsonl")
        if let text = try? String(contentsOf: historyURL, encoding: .utf8) {
            for (index, line) in text.split(separator: "\n").enumerated() {
                do { history.append(try decoder.decode(EpochRecord.self, from: Data(line.utf8))) } catch {
                    throw ReportError.unreadable(path: "\(historyURL.path):\(index + 1)", reason: "not an epoch record (\(error))")
                }
            }
        }
        var kernel: KernelStatistics?
        for name in ["ntk/epoch-0/kernel.json", "ntk/kernel.json", "kernel.json"] {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { kernel = try KernelStatistics.load(url); break }
        }
        let derivedTask = config.data.hasPrefix("task ") ? String(config.data.dropFirst(5)) : config.data
        return RunResult(directory: directory, task: task ?? derivedTask, method: metrics.method, seed: config.seed,
                         config: config, metrics: metrics, history: history, kernel: kernel,
                         kernelTrajectory: try KernelTrajectory.load(run: directory))
    }

    /// The settings that can tell runs of one task and method apart (seed and paths excluded),
    /// by `train` flag name.
    public var settings: [String: String] {
        let c = config
        func number(_ x: Double) -> String { FlagValue.number(x).description }
        var s: [String: String] = [
            "epochs": String(c.epochs), "batch-size": String(c.batchSize), "lr": number(c.learningRate),
            "max-length": String(c.maxLength), "warmup-ratio": number(c.warmupRatio), "weight-decay": number(c.weightDecay),
            "head-scale": number(c.headScale), "model": URL(fileURLWithPath: c.modelDirectory).lastPathComponent,
            "ranks": String(c.worldSize),
        ]
        if c.method.usesLoRA { s["lora-r"] = String(c.loraRank); s["lora-alpha"] = number(c.loraAlpha) }
        s["max-train"] = c.maxTrain.map(String.init) ?? "all"
        s["max-eval"] = c.maxEval.map(String.init) ?? "all"
        s["dropout"] = c.dropout.map(number) ?? "default"
        return s
    }

    /// Loads the runs named by `paths`: sweep folders (manifest.jsonl; incomplete runs are
    /// listed in `missing`), run folders (metrics.json), or folders of run folders.
    public static func collect(_ paths: [URL]) throws -> (runs: [RunResult], missing: [String]) {
        var runs: [RunResult] = [], missing: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ReportError.unreadable(path: path.path, reason: "not a folder; give a sweep folder or run folders")
            }
            let sweep = SweepDirectory(path)
            if fm.fileExists(atPath: sweep.manifestURL.path) {
                for run in try sweep.readManifest() {
                    if sweep.state(of: run.id) == .complete {
                        runs.append(try load(sweep.runDirectory(run.id), task: run.task))
                    } else {
                        missing.append(run.id)
                    }
                }
            } else if fm.fileExists(atPath: path.appendingPathComponent("metrics.json").path) {
                runs.append(try load(path))
            } else {
                let children = ((try? fm.contentsOfDirectory(atPath: path.path)) ?? []).sorted()
                    .map { path.appendingPathComponent($0) }
                    .filter { fm.fileExists(atPath: $0.appendingPathComponent("metrics.json").path) }
                guard !children.isEmpty else {
                    throw ReportError.unreadable(path: path.path, reason: "no manifest.jsonl, no metrics.json and no run folders inside")
                }
                runs += try children.map { try load($0) }
            }
        }
        return (runs, missing)
    }
}

/// Errors of reports.
public enum ReportError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case nothingToReport(String)

    public var errorDescription: String? {
        switch self {
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .nothingToReport(message): return message
        }
    }
}
