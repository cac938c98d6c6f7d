import Foundation
import Model

/// Files of a run directory, written by rank 0 only and always atomically (temp file in the
/// same folder, then rename), so a reader never sees a half-written result.
public enum RunFiles {
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try FileOperations.writeAtomically(data, to: url)
    }

    /// Pretty, key-sorted JSON (stable diffs between runs).
    public static func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(encoder.encode(value) + Data("\n".utf8), to: url)
    }

    /// One compact JSON object per line.
    public static func writeJSONLines<T: Encodable>(_ values: [T], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = Data()
        for v in values { data += try encoder.encode(v); data += Data("\n".utf8) }
        try writeAtomically(data, to: url)
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
