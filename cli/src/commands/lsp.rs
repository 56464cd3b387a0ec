//! `oaasc lsp`: the language server, for editors.

use crate::exit;
use clap::Args;
use oaas_lsp::Ending;

/// Run the language server on standard input and output (see docs/lsp.md).
///
/// Editors start it; it is not meant to be run by hand. It checks every .oaas file of the
/// editor's workspace folders with the open buffers laid over them, and answers hover,
/// go-to-definition, references, completion, symbols, inlay hints, rename and formatting.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct LspArgs {
    /// Accepted for editors that pass it; standard input and output are the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Runs the server until the editor says `exit` or closes its input: 0 after `shutdown`,
/// else 1, as the protocol says.
pub fn run(_args: LspArgs) -> u8 {
    match oaas_lsp::run_stdio() {
        Ok(Ending::Clean) => exit::OK,
        Ok(Ending::ExitWithoutShutdown) => {
            eprintln!("error: language server: `exit` came without `shutdown`");
            exit::FAILED
        }
        Ok(Ending::Disconnected) => {
            eprintln!("error: language server: the client closed the input without `shutdown`");
            exit::FAILED
        }
        Err(e) => {
            eprintln!("error: language server: {e}");
            exit::FAILED
        }
    }
}
