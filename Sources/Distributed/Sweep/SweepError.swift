import Foundation

/// Errors of grids, manifests and sweep runs.
public enum SweepError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case invalidGrid(location: String, message: String)
    case invalidManifest(path: String, line: Int, message: String)
    case invalidOption(String)
    case launchFailed(String)

    public var errorDescription: String? {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .invalidGrid(location, message): return "\(location): \(message)"
        case let .invalidManifest(path, line, message): return "\(path):\(line): \(message)"
        case let .invalidOption(message): return message
        case let .launchFailed(message): return message
        }
    }
}
