import ArgumentParser
import ELF
import Machine
import ShadowMMU
import VMM
import X86Core

/// `x86v pt`: run a guest under the VMM to an instruction count, then show, for each address,
/// the guest's page-table walk beside the walk the CPU really does (the shadow MMU's tables).
struct PageTables: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pt",
        abstract: "Show the guest and shadow page-table walks for addresses, at an instruction count.",
        discussion: "Example: x86v pt testguests/build/paging.elf --at 50000 --address 0x400000 --address 0x1000"
    )

    @Argument(help: "The guest kernel (32-bit multiboot ELF).") var guest: String
    @Option(help: "Stop after this many instructions (default: run to the end).") var at: UInt64 = 10_000_000_000
    @Option(help: "A linear address to show (repeatable; hex with 0x, or decimal).") var address: [String] = []
    @Option(help: "Guest memory, e.g. 64M.") var memory: String = "128M"
    @Option(help: "shadow or direct.") var mmu: RunOptions.MMU = .shadow
    @Option(help: "How guest code runs: blocks or interp (same results).") var engine: ExecutionEngine = .blocks

    func run() throws {
        guard let bytes = parseMemorySize(memory) else { throw InputError("bad --memory '\(memory)'") }
        let addresses = try address.map { (a: String) throws -> UInt32 in
            guard let v = parseAddress(a) else { throw InputError("bad --address '\(a)'") }
            return v
        }
        if addresses.isEmpty { throw InputError("give at least one --address") }
        let pool = max(256, (bytes >> 20) * 4)
        let machine = PCMachine(memorySize: bytes, privateMemory: mmu == .shadow ? pool * 4096 : 0)
        let elf: ELF32File
        do { elf = try ELF32File(bytes: try readFile(guest)) } catch let e as ELF32File.ParseError { throw InputError("\(guest): \(e.description)") }
        do { try MultibootLoader.load(elf, into: machine.cpu) } catch { throw InputError("\(guest): \(error.description)") }
        machine.serialOutput = { _ in }
        machine.cpu.engine = engine
        let vmm = VMM(machine: machine, mmu: mmu == .shadow ? .shadow(pages: pool) : .direct)
        let stop = vmm.run(RunLimits(maxInstructions: at, timeoutSeconds: 60))
        let st = machine.cpu.state
        let v = vmm.virtualCPU
        var out = "x86v pt: \(st.instructions) instructions (\(stop == .instructionLimit ? "--at reached" : "\(stop)")), eip \(hex32(st.eip)), CPL \(st.cpl)\n"
        out += "  guest  CR0 \(hex32(v.cr0)) (PG \(v.cr0 >> 31), WP \((v.cr0 >> 16) & 1))  CR3 \(hex32(v.cr3))  CR4 \(hex32(v.cr4)) (PSE \((v.cr4 >> 4) & 1), PGE \((v.cr4 >> 7) & 1))\n"
        out += "  real   CR0 \(hex32(st.cr0))  CR3 \(hex32(st.cr3)) (\(mmu == .shadow ? "shadow root" : "the guest's"))  CR4 \(hex32(st.cr4))\n"
        let controls = GuestPageWalk.Controls(cr0: v.cr0, cr3: v.cr3, cr4: v.cr4)
        let real = GuestPageWalk.Controls(cr0: st.cr0, cr3: st.cr3, cr4: st.cr4)
        for a in addresses {
            out += "\n\(hex32(a))  (PDE \(a >> 22), PTE \((a >> 12) & 0x3FF), offset \(hex32(a & 0xFFF)))\n"
            if v.cr0 & CR0.pg == 0 {
                out += "  guest   paging off: physical \(hex32(a))\n"
            } else {
                out += "  guest   " + describe(GuestPageWalk.walk(machine.memory, controls, linear: a, write: false, user: false)) + "\n"
            }
            if st.cr0 & CR0.pg != 0 {
                out += "  \(mmu == .shadow ? "shadow " : "direct ") " + describe(GuestPageWalk.walk(machine.memory, real, linear: a, write: false, user: false, guestTables: false)) + "\n"
            }
        }
        writeAll(1, Array(out.utf8))
    }

    func describe(_ w: GuestPageWalk) -> String {
        var s = "PDE @\(hex32(w.pdeAddress)) = \(hex32(w.pde)) \(bits(w.pde, large: w.large))"
        if w.pde & 1 == 0 { return s + "  → not present" }
        if w.large { return s + "  → 4 MiB page, frame \(hex32(w.frame))" }
        if let a = w.pteAddress, let p = w.pte {
            s += "  → PTE @\(hex32(a)) = \(hex32(p)) \(bits(p, large: false))"
            s += p & 1 == 0 ? "  → not present" : "  → frame \(hex32(w.frame))"
        }
        return s
    }

    func bits(_ e: UInt32, large: Bool) -> String {
        let names: [(UInt32, String)] = [(1, "P"), (2, "RW"), (4, "US"), (0x20, "A"), (0x40, "D"), (0x80, large ? "PS" : ""), (0x100, "G")]
        return "[" + names.filter { e & $0.0 != 0 && !$0.1.isEmpty }.map(\.1).joined(separator: " ") + "]"
    }
}
