import Foundation

/// Where the set-up script put the model and data sets (scripts/fetch-assets.sh).
/// Search order: $LPFT_ASSETS, ./assets, then `assets` next to the checkout that built the
/// running binary (…/.build/<config>/lpft-mpi → …/assets).
public enum AssetLocator {
    public static func root() -> URL? {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["LPFT_ASSETS"], !env.isEmpty {
            candidates.append(URL(fileURLWithPath: env))
        }
        candidates.append(URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("assets"))
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("assets"))
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { fm.fileExists(atPath: $0.path) }
    }

    /// The default model directory (all-MiniLM-L6-v2), or nil when set-up has not run.
    public static func defaultModel() -> URL? {
        guard let root = root() else { return nil }
        let url = root.appendingPathComponent("models/all-MiniLM-L6-v2")
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) ? url : nil
    }

    /// The folder of the built-in data sets.
    public static func dataRoot() -> URL? {
        root().map { $0.appendingPathComponent("data") }
    }
}
