/**
 * `-t`: envelope recipients read from the header. To, Cc and Bcc; or, when
 * the message carries Resent-To/Resent-Cc/Resent-Bcc (it is being resent),
 * those instead, as sendmail does. Groups ("list: a@x, b@y;") contribute
 * their members; an empty group ("undisclosed-recipients:;") none.
 *
 * Returns addresses as written; the spool validates each (a bad one fails
 * the enqueue with E_BAD_ADDRESS, exit 65).
 */
import addressparser from 'nodemailer/lib/addressparser';
import { headerValues, type HeaderField } from './header-fields.js';

const RECIPIENT_FIELDS = ['To', 'Cc', 'Bcc'] as const;
const RESENT_RECIPIENT_FIELDS = ['Resent-To', 'Resent-Cc', 'Resent-Bcc'] as const;

/** Names of the fields -t reads for this message. */
export function recipientFieldNames(fields: readonly HeaderField[]): readonly string[] {
  const resent = RESENT_RECIPIENT_FIELDS.some((name) => headerValues(fields, name).length > 0);
  return resent ? RESENT_RECIPIENT_FIELDS : RECIPIENT_FIELDS;
}

/**
 * Mailbox addresses of one address-list value, groups flattened. A bare
 * word ("To: root, ops", common from cron and scripts) is a local name,
 * not a display name: the submitter qualifies it with its default domain.
 */
export function addressesOf(value: string): string[] {
  return addressparser(value, { flatten: true })
    .map((mailbox) => {
      const address = mailbox.address.trim();
      const name = mailbox.name.trim();
      return address === '' && /^[^\s<>@"(),;:]+$/.test(name) ? name : address;
    })
    .filter((address) => address !== '');
}

export function recipientsFromHeaders(fields: readonly HeaderField[]): string[] {
  const out: string[] = [];
  for (const name of recipientFieldNames(fields)) {
    for (const value of headerValues(fields, name)) out.push(...addressesOf(value));
  }
  return out;
}
