import Foundation

/// A file-system operation that failed, in our own words: the path, what was being done, why
/// (from the system's error code), and what to do.
public struct FileOperationError: Error, LocalizedError, Equatable {
    public var path: String
    /// What was being done, e.g. "create the folder", "write".
    public var action: String
    public var reason: String

    public init(path: String, action: String, reason: String) {
        self.path = path
        self.action = action
        self.reason = reason
    }

    public var errorDescription: String? {
        "cannot \(action) \(path): \(reason); check that the location exists, is writable and has free space, or choose another path"
    }

    /// The reason of a Foundation or POSIX error in plain words.
    public static func reason(of error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code))).lowercased()
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))).lowercased() }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileWriteFileExists: return "a file of that name is in the way"
        case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
        case .fileNoSuchFile, .fileReadNoSuchFile: return "a folder on the path does not exist"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "the file system is read-only"
        case .fileWriteInvalidFileName: return "the file name is not valid here (too long, or a character the file system refuses)"
        default: return "error \(ns.domain) \(ns.code)"
        }
    }
}

/// File-system operations that report failures as `FileOperationError`.
public enum FileOperations {
    /// Creates a folder (and its parents); a folder already there is fine, a file is not.
    public static func createDirectory(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw FileOperationError(path: url.path, action: "create the folder", reason: "a file of that name is in the way")
            }
            return
        }
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw FileOperationError(path: url.path, action: "create the folder", reason: FileOperationError.reason(of: error))
        }
    }

    /// Writes `data` to a temporary file in the same folder, then renames it over `url`: a
    /// reader sees the old file or the new one, never half of one.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try createDirectory(directory)
        let temp = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temp)
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw FileOperationError(path: url.path, action: "write", reason: FileOperationError.reason(of: error))
        }
        if rename(temp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno)).lowercased()
            try? FileManager.default.removeItem(at: temp)
            throw FileOperationError(path: url.path, action: "write", reason: reason)
        }
    }

    /// Renames `source` to `destination` (which must not exist).
    public static func move(_ source: URL, to destination: URL) throws {
        do { try FileManager.default.moveItem(at: source, to: destination) } catch {
            throw FileOperationError(path: destination.path, action: "move \(source.lastPathComponent) to",
                                     reason: FileOperationError.reason(of: error))
        }
    }

    /// The names in a folder.
    public static func contents(of url: URL) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: url.path) } catch {
            throw FileOperationError(path: url.path, action: "list the folder", reason: FileOperationError.reason(of: error))
        }
    }

    /// Removes a file or folder; nothing there is fine.
    public static func remove(_ url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        do { try FileManager.default.removeItem(at: url) } catch {
            throw FileOperationError(path: url.path, action: "remove", reason: FileOperationError.reason(of: error))
        }
    }
}
