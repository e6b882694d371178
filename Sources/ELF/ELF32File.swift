public enum ELFPlaceholder {}
