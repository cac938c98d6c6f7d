import Foundation

// Shared helpers of the libFuzzer targets in Targets/ (built by scripts/fuzz.sh together with
// the Model module; each target defines `fuzzOneInput`).

/// libFuzzer's entry point: hands every input to the target's `fuzzOneInput`.
@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { [UInt8](UnsafeBufferPointer(start: $0, count: size)) } ?? []
    fuzzOneInput(bytes)
    return 0
}

/// A private scratch folder for this process (files written per input live here).
let fuzzScratch: URL = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let url = URL(fileURLWithPath: base).appendingPathComponent("lpft-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: "/dev/shm/lpft-fuzz-\(getpid())") }
    return url
}()

/// Writes `bytes` to `name` inside the scratch folder and returns its URL.
func scratchFile(_ name: String, _ bytes: ArraySlice<UInt8>) -> URL {
    let url = fuzzScratch.appendingPathComponent(name)
    guard FileManager.default.createFile(atPath: url.path, contents: Data(bytes)) else {
        FileHandle.standardError.write(Data("fuzz: cannot write the scratch file \(url.path)\n".utf8))
        exit(2)
    }
    return url
}

/// A fresh empty folder inside the scratch folder (for model directories).
func scratchDirectory(_ name: String) -> URL {
    let url = fuzzScratch.appendingPathComponent(name)
    try? FileManager.default.removeItem(at: url)
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// `bytes` cut at every 0x00 byte into at most `limit` sections (the last keeps the rest).
func sections(_ bytes: ArraySlice<UInt8>, limit: Int) -> [ArraySlice<UInt8>] {
    Array(bytes.split(separator: 0, maxSplits: limit - 1, omittingEmptySubsequences: false))
}

/// A folder named by an environment variable that scripts/fuzz.sh sets; stops the run with a
/// message (not a crash report) when it is missing.
func requiredFolder(_ variable: String) -> URL {
    guard let path = ProcessInfo.processInfo.environment[variable],
          FileManager.default.fileExists(atPath: path) else {
        FileHandle.standardError.write(Data("fuzz: set \(variable) to an existing folder (scripts/fuzz.sh does)\n".utf8))
        exit(2)
    }
    return URL(fileURLWithPath: path)
}
