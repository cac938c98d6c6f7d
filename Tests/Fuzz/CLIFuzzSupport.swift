import ArgumentParser
import Foundation

// Shared by the command-line targets (cli-*): they parse fuzzed arguments with the CLI's own
// option groups (Sources/lpft-mpi/Options), exactly as `lpft-mpi <command>` does before it runs.

/// Command-line arguments from the input: cut at every 0x00 byte (at most 64 arguments), each
/// decoded as UTF-8 (invalid bytes become U+FFFD, as a shell would hand them over).
func commandLine(_ bytes: ArraySlice<UInt8>) -> [String] {
    bytes.split(separator: 0, maxSplits: 63, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
}

/// The options parsed and checked, or nil when they were refused with a message (the CLI prints
/// it as one line); refusing must never crash, and must say something.
func parseOrRefuse<Options: ParsableArguments>(_ type: Options.Type, _ arguments: [String]) -> Options? {
    do {
        return try Options.parse(arguments)
    } catch {
        let message = (error as? LocalizedError)?.errorDescription ?? Options.message(for: error)
        require(!message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || Options.exitCode(for: error) == .success,
                "refused \(arguments) without a message")
        return nil
    }
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fuzz cli: \(message)\n".utf8))
    abort()
}
