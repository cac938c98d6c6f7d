import Foundation

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

    /// For tests inside one process.
    static func reset() { flag.pointee = 0 }
}

/// The run stopped on a signal after writing a checkpoint at `step`; the CLI exits with
/// `StopRequest.exitCode`.
public struct Preempted: Error, LocalizedError {
    public var step: Int
    public var errorDescription: String? { "checkpointed at step \(step); rerun with --resume" }
}
