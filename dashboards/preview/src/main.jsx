// The preview page: one Dashboard Studio definition rendered by Splunk's own DashboardCore
// and EnterpriseViewOnlyPreset, every search fed from a fixture (keyed by data source id).
import React from 'react';
import { createRoot } from 'react-dom/client';
import DashboardCore from '@splunk/dashboard-core';
import { DashboardContextProvider } from '@splunk/dashboard-context';
import EnterpriseViewOnlyPreset from '@splunk/dashboard-presets/EnterpriseViewOnlyPreset';
import DataSource from '@splunk/datasources/DataSource';
import SplunkSearch from '@splunk/datasources/SplunkSearch';
import SplunkThemeProvider from '@splunk/themes/SplunkThemeProvider';

// What a search answered in the tests ({fields: [{name}], columns: [[...]]}), by data source
// id; a data source with no fixture fails like a search that errors, never silently empty.
// Splunk's own search config (options schema, chaining rules) so that a definition's
// ds.chain/extend are validated as in Splunk.
class FixtureSearch extends DataSource {
    static schema = SplunkSearch.schema;

    static config = SplunkSearch.config;

    request() {
        const { id } = this.context;
        const fixtures = window.__KEPLER__.fixtures;
        return (observer) => {
            const data = fixtures[id];
            if (!data) {
                observer.error({ level: 'error', message: `no fixture for data source ${id}` });
                return () => {};
            }
            observer.next({ data, meta: { status: 'done', totalCount: data.columns[0]?.length ?? 0 } });
            observer.complete();
            return () => {};
        };
    }
}

const preset = {
    ...EnterpriseViewOnlyPreset,
    dataSources: {
        ...EnterpriseViewOnlyPreset.dataSources,
        'ds.search': FixtureSearch,
        'ds.chain': FixtureSearch,
    },
};

const { definition, theme } = window.__KEPLER__;
window.__KEPLER__.errors = [];
window.addEventListener('error', (e) => window.__KEPLER__.errors.push(String(e.message)));
createRoot(document.getElementById('root')).render(
    <SplunkThemeProvider family="enterprise" colorScheme={theme || 'light'} density="compact">
        <DashboardContextProvider preset={preset} initialDefinition={definition}>
            <DashboardCore width="100%" height="auto" />
        </DashboardContextProvider>
    </SplunkThemeProvider>,
);
