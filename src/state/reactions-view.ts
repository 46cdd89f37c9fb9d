import { LIKE, REACTIONS } from '../protocol/reactions.ts';

export interface ReactionCount {
  reaction: string;
  /** Who chose it, muted people left out. */
  users: string[];
  mine: boolean;
}

export interface ReactionsView {
  like: ReactionCount;
  /** The other reactions that someone chose, in the fixed REACTIONS order. */
  others: ReactionCount[];
}

/** One message's reactions as shown: counts without muted people, mine marked. */
export const reactionsView = (
  summary: Readonly<Record<string, readonly string[]>> | undefined,
  me: string,
  muted: ReadonlySet<string>,
): ReactionsView => {
  const count = (reaction: string): ReactionCount => {
    const users = (summary?.[reaction] ?? []).filter((user) => !muted.has(user));
    return { reaction, users, mine: users.includes(me) };
  };
  return {
    like: count(LIKE),
    others: REACTIONS.filter((reaction) => reaction !== LIKE)
      .map(count)
      .filter((entry) => entry.users.length > 0),
  };
};
