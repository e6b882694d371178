/// The debugger's commands: names, aliases, usage and help text, in the order `help` lists them.
/// `CommandInterpreter` dispatches on `name`.
struct CommandSpec {
    let name: String
    let aliases: [String]
    let usage: String
    let help: String
}

enum CommandTable {
    static let all: [CommandSpec] = [
        .init(name: "step", aliases: ["s", "si", "stepi"], usage: "step [N]", help: "Execute N instructions (default 1). REP iterations and delivered interrupts count as steps, as with the CPU's single-step trap."),
        .init(name: "next", aliases: ["n", "ni", "nexti"], usage: "next", help: "Step one instruction, but run through CALL and INT n until they return to the next instruction."),
        .init(name: "continue", aliases: ["c", "cont"], usage: "continue", help: "Run until a breakpoint, a watchpoint, or the end of the guest."),
        .init(name: "until", aliases: ["u"], usage: "until ADDR", help: "Run until the instruction at ADDR is about to execute."),
        .init(name: "finish", aliases: ["fin"], usage: "finish", help: "Run until the current function returns (a RET that pops the current frame)."),
        .init(name: "run-to", aliases: ["rt"], usage: "run-to exit|fault|ring3|ring0|cr3|interrupt", help: "Run until the next VM exit, page fault or exception, change to CPL 3 or 0, CR3 load, or external interrupt."),
        .init(name: "break", aliases: ["b"], usage: "break ADDR | break exit [REASON] | break fault [VECTOR] | break io PORT | break cr3", help: "Set a breakpoint: on an instruction, a VM exit (by VT-x name, e.g. CR_ACCESS), a fault (vector number or name, e.g. 14 or #PF), an I/O port, or any CR3 load."),
        .init(name: "watch", aliases: ["w"], usage: "watch [r|w|rw] ADDR [LEN]", help: "Stop after any instruction that reads (r), writes (w, default) or touches (rw) LEN bytes (default 4) at guest-linear ADDR. Every access the CPU makes is checked, not only four debug registers' worth."),
        .init(name: "delete", aliases: ["d"], usage: "delete [N]", help: "Delete breakpoint N, or all breakpoints."),
        .init(name: "condition", aliases: ["cond"], usage: "condition N EXPR", help: "Stop at breakpoint N only when EXPR holds: REGISTER OP NUMBER, OP one of == != < > <= >= (e.g. eax == 0x10, cpl == 3). `condition N` alone removes it."),
        .init(name: "info", aliases: ["i"], usage: "info [breakpoints|snapshots|symbols]", help: "The guest, its mode and instruction count; or the breakpoints, snapshots, or symbols."),
        .init(name: "regs", aliases: ["r", "registers"], usage: "regs", help: "Registers, flags, segment descriptor caches, CR0-CR4 as the guest sees them and as the hardware holds them; * marks what changed since the last stop. A last line names the x87/SSE registers that changed, when any did (see fpu, sse)."),
        .init(name: "fpu", aliases: ["x87", "float"], usage: "fpu [mmx|nommx]", help: "The x87 FPU: ST0-ST7 (top of stack first) with the physical register R0-R7, the tag, the 80-bit pattern (sign/exponent, significand) and the value in decimal or its class (zero, denormal, pseudo-denormal, unnormal, inf, QNaN/SNaN with payload, unsupported); FCW (masks, precision, rounding), FSW (TOP, C0-C3, exception flags, SF, ES, B), FTW, FOP with its instruction, FIP and FDP as selector:offset. MM0-MM7 follow when the unit is in MMX state (mmx: always, nommx: never). * marks what changed since the last stop."),
        .init(name: "sse", aliases: ["xmm"], usage: "sse [f32|f64|i8|i16|i32|i64|u8|u16|u32|u64|hex]", help: "MXCSR decoded (masks, rounding, FZ, DAZ, flags) and XMM0-XMM7 as 128-bit numbers (bits 127..0), each with its lanes in braces from lane 0 up, as GDB's p $xmm0 prints them: by default as 4 floats and 2 doubles; or as one kind of lane (i: signed decimal, u: hex), or hex only. * marks what changed since the last stop."),
        .init(name: "set", aliases: [], usage: "set REG VALUE", help: "Set a general register, EIP or EFLAGS (the recorded future is forgotten)."),
        .init(name: "disas", aliases: ["dis", "disassemble"], usage: "disas [ADDR] [N]", help: "Disassemble N instructions (default 8) at ADDR (default EIP), each with its Popek-Goldberg class."),
        .init(name: "x", aliases: [], usage: "x/FMT ADDR", help: "Examine memory: count, unit b/w/d, format x (hex), d (signed), u (unsigned), a (ascii), i (instructions). ADDR may be phys:ADDR. Example: x/4x stack_top-16."),
        .init(name: "gdt", aliases: [], usage: "gdt", help: "The global descriptor table, one entry per line."),
        .init(name: "idt", aliases: [], usage: "idt", help: "The interrupt descriptor table, one gate per line."),
        .init(name: "ldt", aliases: [], usage: "ldt", help: "The local descriptor table (if LDTR is loaded)."),
        .init(name: "tss", aliases: [], usage: "tss", help: "The current task-state segment, decoded."),
        .init(name: "pt", aliases: [], usage: "pt [ADDR] | pt --shadow | pt --dot FILE", help: "With ADDR: the guest's page walk beside the shadow walk, level by level, and why they differ. Alone: the guest address space as merged ranges; --shadow: the shadow's. --dot FILE: both trees as a Graphviz graph (rendered to FILE.svg when `dot` is installed)."),
        .init(name: "exits", aliases: [], usage: "exits [N]", help: "The last N VM exits (default 10): reason, instruction, qualification, what the VMM did."),
        .init(name: "faults", aliases: [], usage: "faults [N]", help: "The last N page faults and exceptions (default 10): hidden or delivered, the guest PDE/PTE, the action."),
        .init(name: "explain", aliases: ["why"], usage: "explain", help: "Why the last VM exit or page fault happened and what the VMM did, in plain words with the SDM section."),
        .init(name: "snapshot", aliases: ["snap"], usage: "snapshot NAME", help: "Keep the whole machine (CPU, memory, devices, clock, VMM and shadow state) in memory under NAME."),
        .init(name: "restore", aliases: [], usage: "restore NAME", help: "Go back to the snapshot NAME."),
        .init(name: "save", aliases: [], usage: "save FILE", help: "Write the whole machine to FILE (x86v run --resume FILE continues it)."),
        .init(name: "load", aliases: [], usage: "load FILE", help: "Replace the machine with one saved by `save` or `x86v run --save` (same configuration)."),
        .init(name: "reverse-step", aliases: ["rs", "rsi", "reverse-stepi"], usage: "reverse-step [N]", help: "Go back N instructions (default 1): restore the nearest automatic snapshot and replay."),
        .init(name: "reverse-continue", aliases: ["rc"], usage: "reverse-continue", help: "Go back to the previous breakpoint hit (or the start of history)."),
        .init(name: "stats", aliases: [], usage: "stats", help: "VM exits by reason, shadow MMU counters, devices."),
        .init(name: "help", aliases: ["h", "?"], usage: "help [CMD]", help: "List the commands, or explain one."),
        .init(name: "quit", aliases: ["q", "exit"], usage: "quit", help: "Leave the debugger."),
    ]

    static func find(_ word: String) -> CommandSpec? {
        all.first { $0.name == word || $0.aliases.contains(word) }
    }
}
