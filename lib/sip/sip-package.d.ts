// The `sip` package ships no types. We use only its message codec (parse and
// stringify, URI helpers); transport, transactions and routing are our own
// because of the defects listed in the project's notes on the package.
declare module 'sip' {
  export interface PackageUri {
    schema: string;
    user?: string;
    password?: string;
    host: string;
    port: number;
    params: Record<string, string | null>;
    headers: Record<string, string>;
  }
  export function parse(text: string): any;
  export function stringify(message: any): string;
  export function parseUri(text: string): PackageUri | undefined;
  export function stringifyUri(uri: PackageUri | string): string;
}
