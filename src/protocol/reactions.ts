/**
 * The reaction set (PROTOCOL.md rule REACT-2). `like` is the Phoenix origin's like; the emoji are a
 * small fixed set, so a reaction is one of a few known strings and cannot carry arbitrary text.
 */
export const LIKE = 'like';
export const REACTIONS: readonly string[] = [LIKE, '👍', '❤️', '😂', '🎉', '😮', '😢', '🙏'];
