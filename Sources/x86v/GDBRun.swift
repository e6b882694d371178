import ArgumentParser
import Debugger
import Machine
import VMM
import X86Core

/// `x86v run GUEST --gdb PORT|unix:PATH`: the run waits for GDB before the first instruction and
/// is driven by it through the debugger engine (Sources/Debugger: the stub and the session).
struct GDBOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Wait for GDB before the first instruction: a TCP port on 127.0.0.1, or unix:PATH.",
                               valueName: "PORT"))
    var gdb: String?

    func check(_ snapshot: SnapshotOptions) throws {
        guard let g = gdb else { return }
        guard GDBListenAddress(g) != nil else { throw InputError("bad --gdb '\(g)' (a port 1–65535, or unix:PATH)") }
        if snapshot.saveAt != nil || snapshot.resume != nil { throw InputError("--gdb does not go with --save-at or --resume") }
    }

    /// Serves one GDB session, then finishes the run as `x86v run` does: to the end without the
    /// debugger after a detach or disconnect, stopped after a kill (status 20), or as the guest
    /// ended.
    func run(_ options: RunOptions) throws -> Never {
        let setup = try options.makeSetup(interactiveInput: false)
        let began = monotonicSeconds()
        let session = DebugSession(machine: setup.machine, vmm: setup.vmm, elf: setup.elf,
                                   guestName: options.guestName, maxInstructions: options.maxInstructions)
        let server: GDBServer
        do { server = try GDBServer(listen: GDBListenAddress(gdb!)!) } catch { throw InputError(error.description) }
        let result = server.serve(session)
        server.close()
        setup.flushOutputs()
        switch result {
        case .killed:
            try setup.finish(.breakpoint, wallSeconds: monotonicSeconds() - began)
        case .exited:
            try setup.finish(session.ended ?? .breakpoint, wallSeconds: monotonicSeconds() - began)
        case .detached, .disconnected:
            if let ended = session.ended { try setup.finish(ended, wallSeconds: monotonicSeconds() - began) }
            session.detach()
            let stop = setup.run(options.limits)
            try setup.finish(stop, wallSeconds: monotonicSeconds() - began)
        }
    }
}
