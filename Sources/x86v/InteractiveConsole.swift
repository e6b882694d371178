import Console
import Machine
#if canImport(Glibc)
import Glibc
#endif

/// The terminal side of `x86v run`: raw mode and the Ctrl-A escapes when stdin is a terminal,
/// the text screen drawn in the terminal (`--display text`), the screen dump at the end
/// (`--screen-dump`). The Console module does the terminal work; this file wires it to the
/// machine (docs/formats.md, "The interactive console").
enum ConsoleFrontEnd {
    /// The display of this run, if `--display text`.
    nonisolated(unsafe) static var display: TextDisplay? = nil
    /// The `--screen-dump` file, opened (and truncated) when the run was set up.
    nonisolated(unsafe) static var screenDumpFD: Int32 = -1
    nonisolated(unsafe) static var screenDumpPath = ""

    /// Wires the console for a run that may take the terminal: `interactive` when stdin is a
    /// terminal and no scripted input was given.
    static func attach(_ machine: PCMachine, options: RunOptions, interactive: Bool) throws {
        if let path = options.screenDump {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw InputError("\(path): \(String(cString: strerror(errno)))") }
            screenDumpFD = fd
            screenDumpPath = path
        }
        let showScreen = options.display == .text
        if showScreen {
            let d = TextDisplay()
            display = d
            machine.onPoll = { [unowned machine] in d.poll(machine) }
        }
        if interactive {
            TerminalMode.enterRaw(extraOnRestore: showScreen ? ScreenRenderer.leave : [])
            machine.inputTarget = showScreen ? .keyboard : .serial
            machine.inputSource = TerminalInput(machine: machine)
        }
        if showScreen { writeAll(1, ScreenRenderer.enter) }
    }

    /// The end of a run, whatever stopped it: the last frame, the terminal back as it was, the
    /// screen dump written.
    static func finish(_ machine: PCMachine) {
        if let d = display {
            d.draw(machine, force: true)
            writeAll(1, ScreenRenderer.leave)
            display = nil
        }
        TerminalMode.restore()
        if screenDumpFD >= 0 {
            let screen = machine.vga.screen()
            let text = ScreenText.dump(cells: screen.cells, columns: screen.columns)
            writeAll(screenDumpFD, Array(text.utf8))
            if close(screenDumpFD) != 0 {
                writeAll(2, Array("x86v: \(screenDumpPath): \(String(cString: strerror(errno)))\n".utf8))
            }
            screenDumpFD = -1
        }
    }

    /// `--keys-in FILE`: the file's bytes as keystrokes (all queued at the start; the keyboard
    /// hands them to the guest one by one as it reads them).
    static func typeFile(_ bytes: [UInt8], into machine: PCMachine) {
        var decoder = KeyDecoder()
        machine.keyboard.type(decoder.decode(bytes) + decoder.flush())
    }
}

/// The terminal as the guest's input: bytes pass the Ctrl-A escape parser, the rest go to the
/// guest (COM1, or the keyboard under `--display text`). A terminal that goes away (end of
/// file, EIO after a hang-up) ends the run as Ctrl-A x does: nobody is left to see or stop it.
final class TerminalInput: HostInput {
    let source = ConsoleInput(fileDescriptor: 0)
    var parser = EscapeParser()
    unowned let machine: PCMachine

    init(machine: PCMachine) { self.machine = machine }

    var isOpen: Bool { source.isOpen }

    func read(waitMilliseconds: Int32) -> [UInt8] {
        let bytes = source.read(waitMilliseconds: waitMilliseconds)
        if !source.isOpen {
            ConsoleFrontEnd.display?.holdUntil = 0
            writeAll(2, Array("\r\nx86v: the terminal closed: ending the run\r\n".utf8))
            machine.stopRequest = .userQuit
            return []
        }
        var (guest, commands) = parser.feed(bytes)
        if machine.inputTarget == .keyboard { guest = holdingSplitSequence(guest) }
        for c in commands {
            switch c {
            case .quit: machine.stopRequest = .userQuit
            case .help: show(EscapeParser.helpText)
            case .noMonitor: show("x86v has no monitor (C-a h lists the escapes)\r\n")
            }
        }
        return guest
    }

    /// The start of an escape sequence at the end of a read, held back (at most 50 ms) so that
    /// the keyboard's decoder sees the sequence whole: a terminal or an ssh link may split one
    /// across reads, and a lone ESC read alone is the Esc key.
    var held: [UInt8] = []
    var heldSince = 0.0

    func holdingSplitSequence(_ bytes: [UInt8]) -> [UInt8] {
        var all = held + bytes
        if !held.isEmpty && bytes.isEmpty && monotonicSeconds() - heldSince < 0.05 { return [] }
        held = []
        if let esc = all.lastIndex(of: 0x1B), Self.isUnfinishedSequence(all[esc...]), !bytes.isEmpty {
            held = Array(all[esc...])
            heldSince = monotonicSeconds()
            all.removeSubrange(esc...)
        }
        return all
    }

    /// ESC; ESC O; ESC [ with parameter bytes and no final byte yet.
    static func isUnfinishedSequence(_ tail: ArraySlice<UInt8>) -> Bool {
        let t = Array(tail)
        if t.count == 1 { return true }
        if t[1] == UInt8(ascii: "O") { return t.count == 2 }
        guard t[1] == UInt8(ascii: "[") && t.count < 16 else { return false }
        return t.dropFirst(2).allSatisfy { $0 >= 0x30 && $0 <= 0x3F }
    }

    /// A message on the terminal; under `--display text` the screen waits 3 s before redrawing.
    func show(_ text: String) {
        if let d = ConsoleFrontEnd.display {
            writeAll(1, Array("\u{1B}[0m\u{1B}[26;1H".utf8))
            d.holdUntil = monotonicSeconds() + 3
        }
        writeAll(2, Array(("\r\n" + text).utf8))
    }
}

/// `--display text`: the guest's text screen redrawn in the terminal, at most every 30 ms of
/// wall time and only when the screen or the cursor changed.
final class TextDisplay {
    var renderer = ScreenRenderer()
    var last: TextScreen? = nil
    var lastDraw = 0.0
    /// No redraw before this time (a message from the escapes is on the terminal).
    var holdUntil = 0.0
    static let interval = 0.030

    func poll(_ machine: PCMachine) {
        let now = monotonicSeconds()
        guard now - lastDraw >= Self.interval, now >= holdUntil else { return }
        lastDraw = now
        draw(machine, force: false)
    }

    func draw(_ machine: PCMachine, force: Bool) {
        if holdUntil > 0 {
            holdUntil = 0
            renderer.invalidate()
            writeAll(1, Array("\u{1B}[2J".utf8))
        }
        let screen = machine.vga.screen()
        if !force && screen == last { return }
        last = screen
        let cursor = screen.cursorRow.map { (row: $0, column: screen.cursorColumn!) }
        let bytes = renderer.frame(cells: screen.cells, cursor: cursor)
        if !bytes.isEmpty { writeAll(1, bytes) }
    }
}
