/** An invalid broker option. The CLI reports it as a usage error (exit 2) rather than a crash. */
export class OptionError extends TypeError {
  /** @override */
  name = 'OptionError';
}
