/// Code page 437, the VGA's character ROM: each byte's glyph as a Unicode scalar (the IBM PC
/// character set; Unicode's own mapping table for CP437, with the control range 0x01–0x1F and
/// 0x7F shown as the PC draws them: ☺ ☻ ♥ … ⌂).
///
/// Two bytes draw nothing on the VGA and are given as a space: 0x00 (the NUL glyph is blank)
/// and 0xFF (no-break space), so a text dump's trailing blanks trim as spaces.
public enum CP437 {
    /// 0x00–0x1F and 0x7F–0xFF; 0x20–0x7E are ASCII.
    static let low: [Unicode.Scalar] = Array(" ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼".unicodeScalars)
    static let high: [Unicode.Scalar] = Array((
        "⌂ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐"
        + "└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ "
    ).unicodeScalars)

    /// The glyph for `byte`.
    public static func scalar(_ byte: UInt8) -> Unicode.Scalar {
        switch byte {
        case 0x20...0x7E: Unicode.Scalar(byte)
        case 0x00...0x1F: low[Int(byte)]
        default: high[Int(byte) - 0x7F]
        }
    }

    /// `byte`'s glyph in UTF-8.
    public static func utf8(_ byte: UInt8) -> [UInt8] {
        Array(String(Character(scalar(byte))).utf8)
    }
}
