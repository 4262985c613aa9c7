/** The benches' command lines: `take(argv)('--name', default)` removes `--name value` from argv and returns the value, or the default. */
export function taker(argv: string[]): (name: string, dflt: string) => string {
  return (name, dflt) => {
    const i = argv.indexOf(name);
    if (i < 0) return dflt;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${name} needs a value`);
    argv.splice(i, 2);
    return v;
  };
}
