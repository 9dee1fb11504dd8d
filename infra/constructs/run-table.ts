import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
// The same key schema `ensureTable` gives DynamoDB Local: the deployed and local tables cannot drift apart.
import { GLOBAL_INDEXES, TABLE_KEY_SCHEMA } from '../../adapters/dynamodb/table.ts';

/**
 * Item-level data actions a step needs to commit run state: reads, conditional writes,
 * batches and transactions (TransactWriteItems/TransactGetItems are authorised per item
 * through these same actions). No Scan, no table management, no streams.
 */
export const RUN_TABLE_DATA_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

export interface RunTableProps {
  /** A customer-managed KMS key. Default: the AWS-managed key (`aws/dynamodb`). */
  readonly encryptionKey?: IKey;
  /** Default: true. Turn off only for throwaway stacks. */
  readonly deletionProtection?: boolean;
  /** Default: RETAIN — runs, traces and budgets outlive the stack. */
  readonly removalPolicy?: RemovalPolicy;
  /** Default: a name CloudFormation generates (safe for several stacks per account). */
  readonly tableName?: string;
}

/**
 * The single DynamoDB table that holds runs, messages, traces, approvals, budgets and
 * rollups: on-demand, point-in-time recovery, encrypted, TTL on `expiresAt`, two GSIs
 * (by agent and more, `gsi1`; runs by status, across agents).
 */
export class RunTable extends Construct {
  readonly table: Table;
  private readonly encryptionKey?: IKey;

  constructor(scope: Construct, id: string, props: RunTableProps = {}) {
    super(scope, id);
    this.encryptionKey = props.encryptionKey;

    this.table = new Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: TABLE_KEY_SCHEMA.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEY_SCHEMA.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? TableEncryption.CUSTOMER_MANAGED : TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      timeToLiveAttribute: TABLE_KEY_SCHEMA.ttlAttribute,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    // Added to a deployed table, an index is built from the items already there before the
    // update completes: every run record has the status index's keys, so none is left out.
    for (const index of GLOBAL_INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        projectionType: index.projection === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY,
      });
    }
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /**
   * Read and write items: exactly RUN_TABLE_DATA_ACTIONS on the table and its `gsi1`
   * index (by name, not `index/*`), plus the key's encrypt/decrypt when it is ours.
   */
  grantReadWriteItems(grantee: IGrantable): void {
    const indexArn = `${this.table.tableArn}/index/${TABLE_KEY_SCHEMA.gsi1.indexName}`;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...RUN_TABLE_DATA_ACTIONS],
        resources: [this.table.tableArn, indexArn],
      }),
    );
    this.encryptionKey?.grantEncryptDecrypt(grantee);
  }

  /**
   * List runs across agents (adapters/dynamodb/run-listing.ts): Query on the status index,
   * by name. The records themselves are read by BatchGetItem, which grantReadWriteItems
   * gives; only the functions that list (the HTTP API, the reminder sweep) get this.
   */
  grantRunListings(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${TABLE_KEY_SCHEMA.statusIndex.indexName}`],
      }),
    );
  }
}
