/**
 * The one error the file and text parsers throw for input that breaks its format's rules (safetensors,
 * PNG, PGM/PPM, IDX, CIFAR-10, GTSRB CSV, attack specs). Its message names the source and the rule; any
 * other error out of a parser is a bug in the parser, which is what the fuzz tests look for.
 */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}
