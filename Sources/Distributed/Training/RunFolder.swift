import Foundation
import Model

/// A run's output folder is claimed, not shared: a run starts only in a new or empty folder,
/// continues its own run there (`--resume`, same settings), or first clears the files of the
/// run that was there (`--overwrite`). So a folder never holds one run's config.json beside
/// another run's metrics.json or checkpoints, which a sweep would count as complete.
///
/// A run that fails writes FAILED (the message) and never metrics.json; a resumed run
/// removes FAILED when it starts again.
public enum RunFolder {
    /// How `train` treats a folder that already holds files.
    public enum Mode: String, Sendable {
        /// Refuse a folder with files in it.
        case fresh
        /// Continue the run in the folder (a folder without a run starts one).
        case resume
        /// Remove the files of the run in the folder, then start.
        case overwrite
    }

    /// What the folder held.
    public enum Claim: Equatable, Sendable {
        /// Start a run (the folder was new, empty or cleared).
        case start
        /// The folder holds this run, not finished: continue it.
        case resume
        /// The folder holds this run, finished (metrics.json): nothing to do.
        case complete
    }

    /// The files and folders a run writes; any of them marks a folder as a run's. `--overwrite`
    /// removes these and nothing else.
    public static let runEntries: Set<String> = [
        "config.json", "metrics.json", "history.jsonl", "steps.jsonl", "head.safetensors", "lp_head.safetensors",
        "lora.safetensors", "checkpoints", "FAILED", "model", "adapter", "logits", "tensorboard", "ntk",
    ]

    public static let failedFile = "FAILED"

    /// Claims `url` for a run with `config` (rank 0 only): creates it, or checks what it holds.
    public static func claim(_ url: URL, mode: Mode, config: TrainingConfig) throws -> Claim {
        var isDirectory: ObjCBool = false
        let fm = FileManager.default
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            try FileOperations.createDirectory(url)
            return .start
        }
        guard isDirectory.boolValue else {
            throw TrainingError.outputFolder("--out \(url.path) is a file, not a folder; choose a folder for the run")
        }
        let entries = try FileOperations.contents(of: url).filter { !$0.hasPrefix(".") }
        let ours = entries.filter(runEntries.contains).sorted()
        let others = entries.filter { !runEntries.contains($0) }.sorted()
        switch mode {
        case .overwrite:
            for name in ours { try FileOperations.remove(url.appendingPathComponent(name)) }
            return .start
        case .fresh:
            guard ours.isEmpty else {
                throw TrainingError.outputFolder("--out \(url.path) already holds another run (\(list(ours))); pass --resume to continue that run, "
                    + "--overwrite to replace its files, or choose a new --out")
            }
            guard others.isEmpty else {
                throw TrainingError.outputFolder("--out \(url.path) is not empty (\(list(others))); choose a new or empty folder for the run, "
                    + "or pass --overwrite to write the run beside those files")
            }
            return .start
        case .resume:
            let configURL = url.appendingPathComponent("config.json")
            guard fm.fileExists(atPath: configURL.path) else {
                guard ours.isEmpty else {
                    throw TrainingError.outputFolder("--out \(url.path) holds \(list(ours)) but no config.json: not a run that can be resumed; "
                        + "pass --overwrite to clear it or choose a new --out")
                }
                return .start
            }
            let differences = try settingDifferences(previous: configURL, current: config)
            guard differences.isEmpty else {
                throw TrainingError.outputFolder("--resume: the run in \(url.path) has other settings: \(differences.joined(separator: "; ")). "
                    + "Resume with the same settings, or pass --overwrite / choose a new --out for a new run")
            }
            if fm.fileExists(atPath: url.appendingPathComponent("metrics.json").path) { return .complete }
            try FileOperations.remove(url.appendingPathComponent(failedFile))
            return .resume
        }
    }

    /// Records a failure: FAILED holds `rank R: message` (a later --resume removes it).
    public static func recordFailure(in url: URL, message: String, rank: Int) {
        try? FileOperations.writeAtomically(Data("rank \(rank): \(message)\n".utf8), to: url.appendingPathComponent(failedFile))
    }

    /// The settings that differ between a run's config.json and `current`, as "--flag old (now new)".
    /// What a run may change on resume (the output path, the commit, whether it saves its model;
    /// runs older than --save-model have no such key) or what the checkpoint
    /// checks itself once the data are loaded (the world size, the class names) is not compared.
    static func settingDifferences(previous url: URL, current: TrainingConfig) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: url.path),
              let differences = settingDifferences(previous: data, current: current) else {
            throw TrainingError.outputFolder("\(url.path) is not a readable run configuration; pass --overwrite to start over or choose a new --out")
        }
        return differences
    }

    /// Settings a resumed run may change: where its files go, the commit, whether it saves
    /// its model, the ranks (global batches do not depend on them), how a rank cuts its share
    /// of a step into passes, how often it checkpoints, where its scalars go, and how the
    /// gradient sums overlap backward (the same sums either way).
    static let resumableSettings: Set<String> = ["outputDirectory", "gitCommit", "worldSize", "saveModel", "microBatchSize",
                                                 "checkpointEvery", "checkpointMinutes", "tensorboard", "overlap", "bucketMegabytes"]

    /// The differing settings of a configuration's JSON and `current`; nil when `data` is not one.
    /// (`also`: keys not compared besides the resumable ones; config.json is compared before the
    /// data are loaded, so without the class names.)
    static func settingDifferences(previous data: Data, current: TrainingConfig, also: Set<String> = ["classNames"]) -> [String]? {
        let ignored = resumableSettings.union(also)
        guard let old = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let encoded = try? encoder.encode(current),
              let new = (try? JSONSerialization.jsonObject(with: encoded)) as? [String: Any] else { return [] }
        return Set(old.keys).union(new.keys).subtracting(ignored).sorted().compactMap { key in
            let before = old[key].map(render) ?? "unset", after = new[key].map(render) ?? "unset"
            return before == after ? nil : "\(flagName(key)) \(before) (now \(after))"
        }
    }

    /// The command-line name of a config.json key.
    static func flagName(_ key: String) -> String {
        let names = ["learningRate": "--lr", "loraRank": "--lora-r", "modelDirectory": "--model", "classNames": "classes",
                     "data": "data", "maxGradNorm": "max gradient norm",
                     "ntkSnapshots": "--ntk-at-start/--ntk-every-epoch"]
        if let name = names[key] { return name }
        return "--" + key.reduce(into: "") { out, c in out += c.isUppercase ? "-" + c.lowercased() : String(c) }
    }

    static func render(_ value: Any) -> String {
        if value is NSNull { return "unset" }
        if let array = value as? [Any] { return array.map(render).joined(separator: ",") }
        return "\(value)"
    }

    static func list(_ names: [String]) -> String {
        names.prefix(6).joined(separator: ", ") + (names.count > 6 ? ", …" : "")
    }
}

// MARK: - Writing into it (rank 0, atomically) and progress

/// Files of a run directory, written by rank 0 only and always atomically (temp file in the
/// same folder, then rename), so a reader never sees a half-written result.
public enum RunFiles {
    /// Pretty, key-sorted JSON (stable diffs between runs).
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try FileOperations.writeAtomically(encoder.encode(value) + Data("\n".utf8), to: url)
    }

    /// One compact JSON object per line.
    public static func writeJSONLines<T: Encodable>(_ values: [T], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = Data()
        for v in values { data += try encoder.encode(v); data += Data("\n".utf8) }
        try FileOperations.writeAtomically(data, to: url)
    }

    /// The commit of the checkout that built the running binary (…/.build/<config>/lpft-mpi),
    /// or "unknown" outside a git checkout.
    public static func gitCommit() -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", dir.path, "rev-parse", "HEAD"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "unknown" }
        process.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !out.isEmpty ? out : "unknown"
    }
}

/// Progress on rank 0: one updating line on a terminal, a plain line every `interval` seconds
/// otherwise (logs of batch jobs).
public final class ProgressReporter {
    private let enabled: Bool
    private let isTerminal: Bool
    private let interval: Double
    private var lastPrint = 0.0
    private var lineOpen = false

    public init(enabled: Bool, interval: Double = 10) {
        self.enabled = enabled
        self.isTerminal = isatty(fileno(stderr)) != 0
        self.interval = interval
    }

    /// Reports progress of a phase; `force` prints even inside the interval.
    public func update(_ text: String, force: Bool = false) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        if isTerminal {
            guard force || now - lastPrint >= 0.2 else { return }
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            lineOpen = true
        } else {
            guard force || now - lastPrint >= interval else { return }
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
        lastPrint = now
    }

    /// Prints a line that stays (ends an updating line first).
    public func log(_ text: String) {
        guard enabled else { return }
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)); lineOpen = false }
        FileHandle.standardError.write(Data("\(text)\n".utf8))
        lastPrint = 0
    }
}
