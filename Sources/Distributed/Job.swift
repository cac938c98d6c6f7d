import Foundation
import Model

/// Runs `body` as one rank of an MPI job. Any error thrown on any rank prints
/// `rank R: <message>` on stderr and stops the whole job (MPI_Abort), so `mpirun` exits
/// non-zero within seconds even while other ranks wait inside a collective.
///
/// Rank 0's message comes first: when every rank fails at once (a bad setting every rank
/// checks), rank 0 prints, gives the launcher a moment to forward the line, and aborts; the
/// other ranks wait `JobFailure.otherRanksDelay` for that abort before printing their own, so
/// the user reads one message instead of P copies interleaved with the launcher's noise.
public func runJob(_ body: (Communicator) throws -> Void) {
    let comm: Communicator
    do {
        comm = try Communicator.world()
    } catch {
        FileHandle.standardError.write(Data("rank ?: \(describe(error))\n".utf8))
        exit(1)
    }
    do {
        try body(comm)
    } catch let stop as JobExit {
        // A planned stop that every rank reached together: a clean MPI exit with its status.
        printRoot(comm, stop.message)
        comm.finalize()
        exit(stop.code)
    } catch {
        let message = describe(error)
        JobFailure.record(message, rank: comm.rank)
        if comm.size == 1 {
            // A single rank needs no MPI_Abort (which prints a long OpenMPI banner).
            FileHandle.standardError.write(Data("rank 0: \(message)\n".utf8))
            comm.finalize()
            exit(1)
        }
        if !comm.isRoot { Thread.sleep(forTimeInterval: JobFailure.otherRanksDelay) }
        FileHandle.standardError.write(Data("rank \(comm.rank): \(message)\n".utf8))
        // Time for mpirun to forward the line before MPI_Abort tears the job down.
        Thread.sleep(forTimeInterval: 0.3)
        comm.abort()
    }
    comm.finalize()
}

/// Thrown by every rank at once to end the job normally with `code` after rank 0 prints
/// `message` (e.g. a run that checkpointed on a stop signal).
public struct JobExit: Error {
    public var code: Int32
    public var message: String
    public init(code: Int32, message: String) { self.code = code; self.message = message }
}

/// What a failing job leaves behind besides its message: commands that own an output folder
/// register a recorder (e.g. the run's FAILED file), called once on the rank that fails.
public enum JobFailure {
    /// How long a failing rank other than 0 waits for rank 0 to stop the job first.
    public static let otherRanksDelay = 2.0

    nonisolated(unsafe) private static var recorder: ((_ message: String, _ rank: Int) -> Void)?

    /// Sets the recorder of this process (nil removes it).
    public static func onFailure(_ record: ((_ message: String, _ rank: Int) -> Void)?) { recorder = record }

    static func record(_ message: String, rank: Int) {
        recorder?(message, rank)
        recorder = nil
    }
}

/// The message of an error: LocalizedError's description when present.
public func describe(_ error: Error) -> String {
    if let localized = error as? LocalizedError, let text = localized.errorDescription { return text }
    return String(describing: error)
}

/// Prints on rank 0 only (the one place that decides who talks).
public func printRoot(_ comm: Communicator, _ text: String) {
    if comm.isRoot { print(text); fflush(stdout) }
}
