/// `--display text`: a text screen drawn in the host terminal with ANSI escape sequences (ECMA-48
/// CSI: CUP, SGR, DECTCEM), as QEMU's `-display curses` shows it: the characters as CP437
/// glyphs in UTF-8, the VGA's 16 colours as the terminal's 8 colours plus bright, the cursor
/// where the CRTC puts it (hidden when the guest hides it).
///
/// Only rows that changed since the last frame are sent (a typing guest changes one or two).
/// The attribute's bit 7 (blink, or a bright background) is ignored, as most terminals blink
/// badly; the whole screen is drawn at the terminal's top left in the alternate screen.
public struct ScreenRenderer {
    /// What the terminal shows now (nil: unknown, draw everything).
    var shown: [UInt16]? = nil
    var shownCursor: (row: Int, column: Int)? = nil
    let columns: Int

    public init(columns: Int = 80) { self.columns = columns }

    /// Switches to the alternate screen and clears it.
    public static let enter: [UInt8] = Array("\u{1B}[?1049h\u{1B}[H\u{1B}[2J".utf8)
    /// Default colours, cursor shown, back to the normal screen (TerminalMode also writes these
    /// if the process dies).
    public static let leave: [UInt8] = Array("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l".utf8)

    /// Forget what is on the terminal (something else wrote to it): the next frame is whole.
    public mutating func invalidate() { shown = nil }

    /// VGA colour number (IRGB order: blue 1, green 2, red 4) → ANSI colour number (red 1,
    /// green 2, blue 4).
    static let ansiColour: [Int] = [0, 4, 2, 6, 1, 5, 3, 7]

    /// The SGR sequence for a VGA attribute byte.
    static func sgr(_ attribute: UInt8) -> String {
        let fg = Int(attribute & 7), bright = attribute & 8 != 0, bg = Int((attribute >> 4) & 7)
        return "\u{1B}[0;\((bright ? 90 : 30) + ansiColour[fg]);\(40 + ansiColour[bg])m"
    }

    /// The bytes that bring the terminal from what it shows to `cells` and `cursor`; empty if
    /// nothing changed.
    public mutating func frame(cells: [UInt16], cursor: (row: Int, column: Int)?) -> [UInt8] {
        var out = ""
        let rows = cells.count / columns
        var changed = false
        for r in 0..<rows {
            let row = cells[(r * columns)..<((r + 1) * columns)]
            if let old = shown, old.count == cells.count, old[(r * columns)..<((r + 1) * columns)] == row { continue }
            changed = true
            out += "\u{1B}[\(r + 1);1H"
            var attribute: UInt8? = nil
            for cell in row {
                let a = UInt8(truncatingIfNeeded: cell >> 8)
                if a != attribute {
                    out += Self.sgr(a)
                    attribute = a
                }
                out.unicodeScalars.append(CP437.scalar(UInt8(truncatingIfNeeded: cell)))
            }
        }
        let cursorMoved = cursor?.row != shownCursor?.row || cursor?.column != shownCursor?.column
        if changed || cursorMoved || shown == nil {
            out += "\u{1B}[0m"
            if let c = cursor {
                out += "\u{1B}[\(c.row + 1);\(c.column + 1)H\u{1B}[?25h"
            } else {
                out += "\u{1B}[?25l"
            }
        }
        shown = cells
        shownCursor = cursor
        return Array(out.utf8)
    }
}
