/// `--screen-dump FILE`: a text screen as plain text (docs/formats.md). One line per row (all
/// rows, so a 25-row screen is 25 lines), each ending in "\n", trailing spaces removed; the
/// character bytes only (attributes and the cursor are not shown), ASCII as itself and every
/// other byte as its CP437 glyph in UTF-8 (0x00 and 0xFF as spaces).
public enum ScreenText {
    /// `cells`: character | attribute << 8, row by row, `columns` to a row.
    public static func dump(cells: [UInt16], columns: Int) -> String {
        var out = ""
        var row = 0
        while row * columns < cells.count {
            var line = ""
            for cell in cells[(row * columns)..<min(cells.count, (row + 1) * columns)] {
                line.unicodeScalars.append(CP437.scalar(UInt8(truncatingIfNeeded: cell)))
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
            row += 1
        }
        return out
    }
}
