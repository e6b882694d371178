import X86Core

/// The VGA in 80×25 colour text mode (BIOS mode 3), as far as a kernel drives it: the screen is
/// guest RAM at 0xB8000 (a character byte and an attribute byte per cell), the CRT controller's
/// registers through the index/data pair 0x3D4/0x3D5 (cursor shape, start address, cursor
/// location), the miscellaneous output register (write 0x3C2, read 0x3CC) and input status #1
/// (0x3DA). IBM VGA Technical Reference, "CRT Controller Registers" and "General Registers".
///
/// ```
/// CRTC  register                      mode 3   CRTC  register                   mode 3
/// 0x00–0x08 horizontal/vertical timing  …      0x0C  start address high         0x00
/// 0x09  maximum scan line               0x4F   0x0D  start address low          0x00
/// 0x0A  cursor start (bit 5: cursor off) 0x0D  0x0E  cursor location high       0x00
/// 0x0B  cursor end                      0x0E   0x0F  cursor location low        0x00
/// 0x10–0x18 vertical timing, offset 0x28, underline, mode control 0xA3, line compare
/// ```
///
/// Model choices:
/// - The registers hold what SeaBIOS's VGA BIOS leaves after setting mode 3 under
///   `qemu-system-i386 -kernel` (read back from QEMU 7.2), but for the cursor location: SeaBIOS
///   prints its banner and leaves the cursor on row 8 (0x0280); x86v runs no BIOS that prints,
///   so the screen starts blank (`clearScreen`: spaces, light grey on black) with the cursor
///   home (0x0000), as the BDA's cursor position (0x450) says.
/// - Registers are plain storage; none changes the display geometry (always 80×25 at
///   0xB8000 + 2 × start address, wrapping in the 32 KiB window). CR11 bit 7 write-protects
///   CR0–CR7 (CR7 bit 4 stays writable), as on the VGA. The index takes all 8 bits and indexes
///   past 0x18 (no VGA register) are storage reading 0 until written, as QEMU's.
/// - Input status #1 toggles its vertical-retrace (bit 3) and display-enable (bit 0) bits on
///   every read, as QEMU's does: deterministic, and a "wait for retrace" loop ends after one or
///   two reads instead of a frame's worth (1.6 M instructions of port exits) of virtual time.
/// - The misc register's bit 0 picks the CRTC's ports: 1 (colour, after mode 3) answers at
///   0x3D4/0x3D5/0x3DA and leaves 0x3B4/0x3B5/0x3BA absent (0xFF, writes ignored); 0 swaps
///   them. Bit 4 is not stored (QEMU). Input status #0 (0x3C2 read) is 0.
/// - Port accesses wider than a byte act on consecutive ports (`outw 0x3D4` sets the index and
///   writes the data), as the ISA bus splits them.
/// - Not modelled: the sequencer, graphics controller, attribute controller and DAC
///   (0x3C0–0x3CF but 0x3C2/0x3CC), graphics modes, fonts, blinking.
public final class VGAText: PortDevice {
    public static let base: UInt32 = 0xB8000
    public static let windowSize: UInt32 = 0x8000
    public static let columns = 80, rows = 25
    /// The ports this device answers.
    public static let portRanges: [ClosedRange<UInt16>] = [
        0x3B4...0x3B5, 0x3BA...0x3BA, 0x3C2...0x3C2, 0x3CC...0x3CC, 0x3D4...0x3D5, 0x3DA...0x3DA,
    ]

    /// CRTC registers 0x00–0x18 after SeaBIOS's mode 3 (cursor home: see above).
    public static let mode3CRTC: [UInt8] = [
        0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00,
        0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
    ]
    /// Miscellaneous output after mode 3: colour I/O addresses, RAM enabled, 28 MHz clock,
    /// 400-line sync polarity.
    public static let mode3Misc: UInt8 = 0x67

    let memory: PhysicalMemory
    /// All 256 indexes (QEMU's); 0x00–0x18 are the VGA's registers.
    var crtc: [UInt8] = mode3CRTC + [UInt8](repeating: 0, count: 256 - mode3CRTC.count)
    var crtcIndex: UInt8 = 0
    var misc: UInt8 = mode3Misc
    /// Input status #1 bits 0 and 3 as last read.
    var inputStatus: UInt8 = 0

    public init(memory: PhysicalMemory) { self.memory = memory }

    /// Fills the text window with blanks (0x20, attribute 0x07) as a mode set does.
    public func clearScreen() {
        var a = Self.base
        while a < Self.base + Self.windowSize {
            memory.write(a, size: 2, value: 0x0720)
            a += 2
        }
    }

    var colour: Bool { misc & 1 != 0 }

    /// True when `port` is the mono/colour twin the misc register has switched off.
    func absent(_ port: UInt16) -> Bool {
        colour ? port & 0xFFF0 == 0x3B0 : port & 0xFFF0 == 0x3D0
    }

    public func read(port: UInt16, size: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<size { value |= UInt32(readByte(port &+ UInt16(i))) << (8 * UInt32(i)) }
        return value
    }

    public func write(port: UInt16, size: Int, value: UInt32) {
        for i in 0..<size { writeByte(port &+ UInt16(i), UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    func readByte(_ port: UInt16) -> UInt8 {
        if absent(port) { return 0xFF }
        switch port {
        case 0x3B4, 0x3D4: return crtcIndex
        case 0x3B5, 0x3D5: return crtc[Int(crtcIndex)]
        case 0x3BA, 0x3DA:
            inputStatus ^= 0x09
            return inputStatus
        case 0x3CC: return misc
        case 0x3C2: return 0  // input status #0
        default: return 0xFF
        }
    }

    func writeByte(_ port: UInt16, _ v: UInt8) {
        if absent(port) { return }
        switch port {
        case 0x3B4, 0x3D4: crtcIndex = v
        case 0x3B5, 0x3D5: writeCRTC(v)
        case 0x3C2: misc = v & ~0x10
        default: break
        }
    }

    func writeCRTC(_ v: UInt8) {
        let i = Int(crtcIndex)
        if crtc[0x11] & 0x80 != 0 && i <= 7 {
            // Protected: only CR7 bit 4 (line compare bit 8) may change.
            if i == 7 { crtc[7] = crtc[7] & ~0x10 | v & 0x10 }
            return
        }
        crtc[i] = v
    }

    // MARK: What the screen shows

    /// The first cell shown (CRTC start address, in cells).
    public var startAddress: Int { Int(crtc[0x0C]) << 8 | Int(crtc[0x0D]) }
    /// The cursor location register (in cells from the start of video memory).
    public var cursorLocation: Int { Int(crtc[0x0E]) << 8 | Int(crtc[0x0F]) }
    /// The cursor is drawn: not disabled by CR0A bit 5, and its start scan line not below its
    /// end (the VGA draws nothing then).
    public var cursorEnabled: Bool { crtc[0x0A] & 0x20 == 0 && crtc[0x0A] & 0x1F <= crtc[0x0B] & 0x1F }

    /// The 80×25 cells on screen now (character | attribute << 8) and the cursor's row and
    /// column when it is on screen and enabled.
    public func screen() -> TextScreen {
        var cells = [UInt16](repeating: 0, count: Self.columns * Self.rows)
        let start = startAddress
        for i in 0..<cells.count {
            let offset = UInt32(((start + i) * 2) & Int(Self.windowSize - 1))
            cells[i] = UInt16(truncatingIfNeeded: memory.read(Self.base + offset, size: 2))
        }
        var cursor: (row: Int, column: Int)? = nil
        let at = cursorLocation - start
        if cursorEnabled && at >= 0 && at < cells.count { cursor = (at / Self.columns, at % Self.columns) }
        return TextScreen(cells: cells, cursor: cursor)
    }
}

/// What a text screen shows: `columns × rows` cells, row by row, each the character byte (low)
/// and attribute byte (high), and the cursor if it is visible.
public struct TextScreen: Equatable, Sendable {
    public var cells: [UInt16]
    public var cursorRow: Int?
    public var cursorColumn: Int?
    public var columns: Int { VGAText.columns }
    public var rows: Int { cells.count / VGAText.columns }

    public init(cells: [UInt16], cursor: (row: Int, column: Int)?) {
        self.cells = cells
        cursorRow = cursor?.row
        cursorColumn = cursor?.column
    }
}
