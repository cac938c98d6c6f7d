import ArgumentParser
import Distributed
import Foundation

/// Options every multi-rank command accepts. Include them with
/// `@OptionGroup var job: JobOptions`; `RankCommand` finds the group and applies it to the
/// communicator before `run(comm:)`.
struct JobOptions: ParsableArguments {
    @Option(name: .customLong("stall-timeout"),
            help: ArgumentHelp("Seconds an MPI collective may wait before the job reports which ranks did not arrive and stops (0 = no deadline).",
                               valueName: "seconds"))
    var stallTimeout: Double = JobOptions.defaultStallTimeout

    /// Five minutes: far above any collective of a healthy job on this project's sizes, short
    /// enough that a dead host does not hold a cluster allocation for long.
    static let defaultStallTimeout = 300.0

    func validate() throws {
        guard stallTimeout.isFinite, stallTimeout >= 0 else {
            throw ValidationError("--stall-timeout must be a number of seconds ≥ 0 (0 turns the deadline off); got \(stallTimeout).")
        }
    }

    func apply(to comm: Communicator) {
        comm.stallTimeout = stallTimeout > 0 ? stallTimeout : nil
    }

    /// The job options a command includes as an option group, if any.
    static func included(in command: Any) -> JobOptions? {
        Mirror(reflecting: command).children.lazy.compactMap { ($0.value as? OptionGroup<JobOptions>)?.wrappedValue }.first
    }
}
